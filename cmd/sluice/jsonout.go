package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// writeJSON prints a JSON document from the daemon the way every --json
// output looks: indented by two spaces, ending in a newline, whatever
// shape the daemon sent it in.
func writeJSON(w io.Writer, raw []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return fmt.Errorf("bad JSON from daemon: %w", err)
	}
	b.Truncate(len(bytes.TrimRight(b.Bytes(), " \t\r\n")))
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}
