package main

import "fmt"

// hashTables reads the tables specs lists, main.cf's param, in order. A
// table of another type is listed instead, todo saying what to do with its
// entries by hand; read says whether any table was read.
func (im *importer) hashTables(param string, specs []string, todo string) (entries []pfEntry, read bool, err error) {
	for _, spec := range specs {
		if pfPostsrsd(spec) { // tcp: or socketmap:, a type hashTable never reads
			im.note(param, "table "+spec+": "+pfSRSWhy)
			continue
		}
		es, ok, err := im.hashTable(param, spec, todo)
		if err != nil {
			return nil, false, err
		}
		read = read || ok
		entries = append(entries, es...)
	}
	return entries, read, nil
}

// hashTable reads one table of main.cf's param, the entries of a table
// of another type being left to the user: it is listed, todo saying how.
func (im *importer) hashTable(param, spec, todo string) ([]pfEntry, bool, error) {
	es, ok, err := im.p.readTable(spec)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", param, err)
	}
	if !ok {
		im.note(param, fmt.Sprintf("table %s: only hash-style tables (read from their source file) are imported; %s", spec, todo))
	}
	return es, ok, nil
}

// where names e as a note or a comment quotes it: file:line key value.
func (e pfEntry) where() string {
	return fmt.Sprintf("%s:%d %s %s", e.file, e.line, e.key, e.value)
}
