package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/plugin"
)

// closer is a started stage that must be stopped with the daemon.
type closer interface{ Close() error }

// buildPipeline starts every configured stage in order. A stage that cannot
// start is a start-up error naming the stage; stages already started are
// stopped again.
func buildPipeline(c *config.Config, self string, log *slog.Logger) (_ *pipeline.Pipeline, _ []closer, err error) {
	var stages []pipeline.StageConfig
	var started []closer
	defer func() {
		if err != nil {
			for _, s := range started {
				_ = s.Close()
			}
		}
	}()
	for _, sc := range c.Stages {
		st, cl, err := startStage(c, sc, self, log)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: stage %q: %w", c.Source, sc.Name, err)
		}
		started = append(started, cl)
		stages = append(stages, pipeline.StageConfig{Name: sc.Name, Stage: st, Timeout: sc.Timeout.Duration, OnError: sc.OnError})
	}
	return pipeline.New(log, stages...), started, nil
}

func startStage(c *config.Config, sc config.Stage, self string, log *slog.Logger) (pipeline.Stage, closer, error) {
	if sc.Milter != "" {
		return nil, nil, errors.New("milter stages are not supported yet")
	}
	cfg := sc.Config
	if cfg == nil {
		cfg = map[string]any{}
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	cmd, err := pluginCommand(c, sc.Plugin, self)
	if err != nil {
		return nil, nil, err
	}
	p, err := plugin.Start(plugin.Options{Stage: sc.Name, Command: cmd, ConfigJSON: js, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return p, p, nil
}

// pluginCommand resolves a stage's plugin: a bare name is first-party and
// runs as `sluice plugin serve NAME`; anything with a slash is an
// executable path (relative to the config file).
func pluginCommand(c *config.Config, name, self string) ([]string, error) {
	if !strings.Contains(name, "/") {
		return []string{self, "plugin", "serve", name}, nil
	}
	path := c.Resolve(name)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("%s is not an executable file", path)
	}
	return []string{path}, nil
}
