package main

import "strings"

// pfSRSWhy is the note for a lookup table of postsrsd, the Sender
// Rewriting Scheme daemon Postfix asks as sender_canonical_maps (forward)
// and recipient_canonical_maps (reverse): the route stage does SRS itself,
// with postsrsd's address format and secrets file.
const pfSRSWhy = `postsrsd (SRS): the route stage's [stage.config.srs] does it, ` +
	`domain = SRS_DOMAIN (one of local_domains), secrets_file = postsrsd's secrets file, ` +
	`scope = "remote" to rewrite all mail to other domains as postsrsd does (the default, "forwarded", rewrites only what the aliases send on)`

// pfPostsrsd reports whether spec is one of postsrsd's tables: its TCP
// tables on their default ports (postsrsd 1: tcp:127.0.0.1:10001
// forward, 10002 reverse) or its socketmap (postsrsd 2:
// socketmap:unix:/var/spool/postfix/srs:forward, :reverse).
func pfPostsrsd(spec string) bool {
	spec = strings.TrimPrefix(spec, "proxy:")
	switch {
	case strings.HasPrefix(spec, "tcp:"):
		return strings.HasSuffix(spec, ":10001") || strings.HasSuffix(spec, ":10002")
	case strings.HasPrefix(spec, "socketmap:"):
		return strings.HasSuffix(spec, ":forward") || strings.HasSuffix(spec, ":reverse")
	}
	return false
}

// srsNote lists param with the route stage's counterpart when it names
// one of postsrsd's tables.
func (im *importer) srsNote(param string) {
	for _, spec := range pfList(im.p.value(param)) {
		if pfPostsrsd(spec) {
			im.note(param, "table "+spec+": "+pfSRSWhy)
			return
		}
	}
}
