package main

import (
	"path/filepath"
	"strings"

	"github.com/sluice-mta/sluice/core/bounce"
)

// bounceTemplate carries bounce_template_file as [delivery]
// bounce_template, the path as the Postfix host has it: Sluice reads the
// bounce(5) file as it is. The file is read too (from -d's directory
// when it is under config_directory), and what Sluice makes of it goes
// into a comment: a fault, which check-config refuses until the file
// is edited (a $name Sluice does not expand).
func (im *importer) bounceTemplate(b *strings.Builder) {
	p := im.p
	if !p.set("bounce_template_file") {
		return
	}
	path := strings.TrimSpace(p.take("bounce_template_file"))
	if path == "" {
		return // Postfix's default: the built-in templates, as Sluice's
	}
	from := "bounce_template_file = " + path + " (Postfix's bounce(5) format, read as it is)"
	if !filepath.IsAbs(path) {
		// The bounce daemon reads it in its working directory,
		// queue_directory; Sluice's config would resolve it against
		// its own directory.
		path = p.queuePath(path, false)
		from += ", relative to queue_directory"
	}
	kv(b, from, "bounce_template", tomlStr(path))
	data, err := pfReadFile(p.localPath(path))
	if err != nil {
		return // not on this machine: check-config reads it where it runs
	}
	if _, err := bounce.ParseTemplates(path, data); err != nil {
		b.WriteString("# " + tomlComment("Sluice cannot use it as it is (check-config refuses it): "+err.Error()) + "\n")
	}
}
