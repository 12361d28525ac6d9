// Package pythonplugin holds an example Sluice plugin written in Python
// (plugin.py, run with Debian's /usr/bin/python3 and python3-grpcio) and
// the Go test that starts it through go-plugin, as the core does.
package pythonplugin
