package sdk

// Describer is implemented by a plugin that reports its name and version
// to the core at Init (Info.Name, Info.Version; shown in the pipeline's
// status). Optional: without it both are empty.
type Describer interface {
	Describe() (name, version string)
}
