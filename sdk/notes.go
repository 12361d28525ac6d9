package sdk

import (
	"fmt"
	"maps"
	"unicode/utf8"
)

// Bounds of notes (SetNote): they travel with every later call of their
// scope and are stored with the queued message, so a stage cannot grow
// them without end.
const (
	MaxNoteKey   = 64   // bytes of a key, [A-Za-z0-9._-]
	MaxNoteValue = 1024 // bytes of a value, UTF-8
	MaxNotes     = 32   // notes of one scope (the session's, a transaction's)
)

// CheckNote reports why the core would refuse n on its own, nil when it
// would not (a full scope is Apply's to tell).
func CheckNote(n SetNote) error {
	if n.Key == "" || len(n.Key) > MaxNoteKey {
		return fmt.Errorf("note key of %d bytes, not 1 to %d", len(n.Key), MaxNoteKey)
	}
	for i := 0; i < len(n.Key); i++ {
		c := n.Key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("note key %q: only letters, digits, '.', '_' and '-'", n.Key)
		}
	}
	if len(n.Value) > MaxNoteValue {
		return fmt.Errorf("note value of %d bytes, over %d", len(n.Value), MaxNoteValue)
	}
	if !utf8.ValidString(n.Value) {
		return fmt.Errorf("note value is not UTF-8")
	}
	return nil
}

// Apply returns notes with n applied: Key set to Value, or removed when
// Value is "". notes itself is never written to — a call already sent,
// or a snapshot taken, may share it — so the result is a new map, nil
// when it is empty. The error is CheckNote's, or that the scope already
// holds MaxNotes other keys; notes is then returned as it was.
func (n SetNote) Apply(notes map[string]string) (map[string]string, error) {
	if err := CheckNote(n); err != nil {
		return notes, err
	}
	if n.Value == "" {
		if _, ok := notes[n.Key]; !ok {
			return notes, nil
		}
		out := maps.Clone(notes)
		delete(out, n.Key)
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	if _, ok := notes[n.Key]; !ok && len(notes) >= MaxNotes {
		return notes, fmt.Errorf("%d notes already, the most a scope holds", MaxNotes)
	}
	out := make(map[string]string, len(notes)+1)
	maps.Copy(out, notes)
	out[n.Key] = n.Value
	return out, nil
}

// sameNotes reports whether a and b hold the same notes; without notes,
// the usual case, it costs two length checks.
func sameNotes(a, b map[string]string) bool {
	return len(a) == len(b) && (len(a) == 0 || maps.Equal(a, b))
}

// SameSession reports whether a and b are the same session as a call
// sees it, notes included (Session holds a map, so == does not compile).
func SameSession(a, b *Session) bool {
	return a.ID == b.ID && a.ClientIP == b.ClientIP && a.ClientPort == b.ClientPort &&
		a.ClientName == b.ClientName && a.Helo == b.Helo && a.TLS == b.TLS &&
		a.TLSVersion == b.TLSVersion && a.TLSCipher == b.TLSCipher && a.TLSCipherBits == b.TLSCipherBits && a.AuthUser == b.AuthUser && a.AuthMech == b.AuthMech &&
		a.Listener == b.Listener && a.LocalIP == b.LocalIP && a.LocalPort == b.LocalPort &&
		a.RelayClient == b.RelayClient && a.Transaction == b.Transaction && sameNotes(a.Notes, b.Notes)
}
