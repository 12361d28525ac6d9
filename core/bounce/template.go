package bounce

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Templates are the notices of a bounce template file in Postfix's own
// format (bounce(5), its bounce_template_file): each replaces, in the
// reports of its kind, the From display name, the Subject and the text
// that introduces the recipients list. The machine-readable part (RFC
// 3464) and the returned original stay as they are.
type Templates struct {
	// File is the path the templates were read from (ParseTemplates' file).
	File string
	// Failure is for reports of failure, Delay for delay warnings and
	// Success for delivered, relayed and expanded ones; nil keeps the
	// built-in notice. Verify is read and checked but not used: Sluice
	// sends no address verification or sendmail -v reports.
	Failure, Delay, Success, Verify *Template
}

// TemplateError is a fault of a template file at a line of it.
type TemplateError struct {
	File string
	Line int
	Msg  string
}

func (e *TemplateError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// LoadTemplates reads and parses a template file (ReadTemplateFile,
// ParseTemplates).
func LoadTemplates(path string) (*Templates, error) {
	data, err := ReadTemplateFile(path)
	if err != nil {
		return nil, err
	}
	return ParseTemplates(path, data)
}

// MaxTemplateFile is the largest template file read, in bytes: Postfix's
// own file of four templates is 3.5 KB, and one read at start, at each
// check-config and at each reload must not take the daemon's memory.
const MaxTemplateFile = 1 << 20

// ReadTemplateFile reads the template file at path, a regular file of at
// most MaxTemplateFile bytes: a path naming a FIFO or a device
// (/dev/zero) is refused, not waited on or read without end.
func ReadTemplateFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxTemplateFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxTemplateFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxTemplateFile)
	}
	return data, nil
}

// ParseTemplates parses data, a bounce(5) file named file, as Postfix's
// bounce_templates_load reads one: outside a template, empty lines and
// lines starting with # are skipped; a template is "NAME = <<EOF", its
// lines, and a line that is the end marker alone ("NAME = text" is a
// template of one line). Where Postfix warns and keeps its built-in
// template (an unknown template name, a missing end marker, a bad
// header), Sluice refuses the file, at the line at fault: a notice the
// operator wrote is not silently replaced by another.
func ParseTemplates(file string, data []byte) (*Templates, error) {
	t := &Templates{File: file}
	lines := strings.Split(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i := range lines {
		// A file saved with CRLF ends its marker lines in CR too.
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	fail := func(line int, format string, args ...any) error {
		return &TemplateError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	first := map[string]int{}
	for i := 0; i < len(lines); i++ {
		start := i + 1
		if s := strings.TrimLeft(lines[i], " \t\v\f"); s == "" || s[0] == '#' {
			continue
		}
		name, value, err := splitNameValue(lines[i])
		if err != nil {
			return nil, fail(start, "%s: %q", err, lines[i])
		}
		body, bodyLine := []string{value}, start
		if rest, ok := strings.CutPrefix(value, "<<"); ok {
			marker := strings.TrimLeft(rest, " \t")
			switch {
			case marker == "":
				return nil, fail(start, "%s: missing end marker after <<", name)
			case !isAlnum(marker[0]):
				return nil, fail(start, "%s: malformed end marker after << (it is a word, not quoted: <<EOF)", name)
			}
			end := i + 1
			for end < len(lines) && lines[end] != marker {
				end++
			}
			if end == len(lines) {
				return nil, fail(start, "%s: no line %q ends it", name, marker)
			}
			body, bodyLine = lines[i+1:end], start+1
			i = end
		}
		slot := t.slot(name)
		if slot == nil {
			return nil, fail(start, "unknown template name %s: bounce(5) has failure_template, delay_template, success_template and verify_template", name)
		}
		if at, ok := first[name]; ok {
			return nil, fail(start, "%s again (the first is at line %d)", name, at)
		}
		first[name] = start
		tp, err := parseTemplate(file, name, start, bodyLine, body)
		if err != nil {
			return nil, err
		}
		*slot = tp
	}
	return t, nil
}

// slot is where the template called name goes; nil for no such name.
func (t *Templates) slot(name string) **Template {
	switch name {
	case "failure_template":
		return &t.Failure
	case "delay_template":
		return &t.Delay
	case "success_template":
		return &t.Success
	case "verify_template":
		return &t.Verify
	}
	return nil
}

// forReport is the template for a report telling of rcpts, by the worst
// thing it tells (as its subject names it); nil for the built-in one.
func (t *Templates) forReport(rcpts []Recipient) *Template {
	if t == nil {
		return nil
	}
	switch worstAction(rcpts) {
	case Failed:
		return t.Failure
	case Delayed:
		return t.Delay
	}
	return t.Success
}

// splitNameValue splits "name = value" as Postfix's split_nameval does:
// white space around either is not part of it.
func splitNameValue(line string) (name, value string, err error) {
	s := strings.TrimLeft(line, " \t\v\f")
	n := strings.IndexAny(s, " \t\v\f=")
	if n < 0 {
		n = len(s)
	}
	if n == 0 {
		return "", "", fmt.Errorf("missing attribute name")
	}
	name, s = s[:n], strings.TrimLeft(s[n:], " \t\v\f")
	if !strings.HasPrefix(s, "=") {
		return "", "", fmt.Errorf("missing '=' after attribute name")
	}
	return name, strings.TrimSpace(s[1:]), nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
