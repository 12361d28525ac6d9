package sdk

import "os"

// EnvDryRun is set to "1" in the environment of a plugin that the core
// started for `sluice check-config` or `sluice replay`.
const EnvDryRun = "SLUICE_DRY_RUN"

// DryRun reports whether this plugin process was started for a dry run
// (check-config, replay). Such a process runs beside the daemon's own
// process of the same stage, which owns the stage's state: a plugin that
// keeps state in files (the filter's greylist) reads it and writes nothing.
func DryRun() bool { return os.Getenv(EnvDryRun) == "1" }
