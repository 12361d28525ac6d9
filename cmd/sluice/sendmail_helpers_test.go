package main

import (
	"bytes"
	"io"
	"testing"
)

// bodyBytes is m's spooled body.
func (m *smMessage) bodyBytes(t testing.TB) []byte {
	t.Helper()
	r, err := m.body.reader()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bytes is m as read: its fields, the blank line and its body.
func (m *smMessage) bytes(t testing.TB) []byte {
	var b bytes.Buffer
	for _, f := range m.fields {
		b.WriteString(f)
	}
	b.WriteString("\r\n")
	b.Write(m.bodyBytes(t))
	return b.Bytes()
}

// bytes is the message s submits.
func (s *submission) bytes(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := s.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// parseMessage is readMessage of raw with -i, for the tests that parse
// a message in memory.
func parseMessage(raw []byte) *smMessage {
	m, _ := readMessage(bytes.NewReader(raw), true)
	return m
}
