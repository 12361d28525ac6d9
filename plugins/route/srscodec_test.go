package route

import (
	"errors"
	"testing"
	"time"
)

// refTime is the time the vectors below were made at by Debian's Mail::SRS
// 0.31 (time() overridden to 1700000000: day stamp G3), with the secrets
// "s3cret" (signing) and "old", alias domain example.org.
var refTime = time.Unix(1700000000, 0)

func refCodec(at time.Time) *srsCodec {
	return &srsCodec{domain: "example.org", secrets: func() []string { return []string{"s3cret", "old"} },
		maxAge: 21, now: func() time.Time { return at }}
}

// TestSRSForwardVectors: the addresses Mail::SRS makes, character for
// character: SRS0 for a plain sender (its case kept, hashed lowercased),
// SRS1 for another forwarder's SRS0 (the separator after SRS0 kept) and
// SRS1 (its first forwarder kept).
func TestSRSForwardVectors(t *testing.T) {
	c := refCodec(refTime)
	for _, tc := range []struct{ in, want string }{
		{"alice@origin.test", "SRS0=2j0N=G3=origin.test=alice@example.org"},
		{"Bob.Smith@Origin.Test", "SRS0=bOaI=G3=Origin.Test=Bob.Smith@example.org"},
		{"SRS0=abcd=XY=first.test=carol@fwd1.test", "SRS1=0oRr=fwd1.test==abcd=XY=first.test=carol@example.org"},
		{"SRS0+abcd=XY=first.test=carol@fwd1.test", "SRS1=fIRy=fwd1.test=+abcd=XY=first.test=carol@example.org"},
		{"SRS1=wxyz=first.test==abcd=XY=first.test=carol@fwd2.test", "SRS1=FqTV=first.test==abcd=XY=first.test=carol@example.org"},
	} {
		if got := c.forward(tc.in); got != tc.want {
			t.Errorf("forward(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestSRSReverseVectors: what Mail::SRS reverses, and what it refuses,
// refused for the same reason.
func TestSRSReverseVectors(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		local string
		at    time.Time
		want  string
		err   error
	}{
		{"SRS0=2j0N=G3=origin.test=alice", refTime, "alice@origin.test", nil},
		// A relay that lowercased the local part.
		{"srs0=2j0n=g3=origin.test=alice", refTime, "alice@origin.test", nil},
		// Made under the second secret, being retired.
		{"SRS0=yP7S=G3=origin.test=dave", refTime, "dave@origin.test", nil},
		{"SRS1=0oRr=fwd1.test==abcd=XY=first.test=carol", refTime, "SRS0=abcd=XY=first.test=carol@fwd1.test", nil},
		{"SRS1+0oRr=fwd1.test==abcd=XY=first.test=carol", refTime, "SRS0=abcd=XY=first.test=carol@fwd1.test", nil},
		// max_age_days is the last day it is good.
		{"SRS0=2j0N=G3=origin.test=alice", refTime.Add(21 * day), "alice@origin.test", nil},
		{"SRS0=2j0N=G3=origin.test=alice", refTime.Add(22 * day), "", errSRSExpired},
		// A stamp of tomorrow is one of 1023 days ago.
		{"SRS0=2j0N=G3=origin.test=alice", refTime.Add(-day), "", errSRSExpired},
		// Forged: a hash no secret makes, one changed field, a short hash.
		{"SRS0=LBlU=G3=origin.test=dave", refTime, "", errSRSHash},
		{"SRS0=2j0N=G3=origin.test=mallory", refTime, "", errSRSHash},
		{"SRS0=2j0=G3=origin.test=alice", refTime, "", errSRSHash},
		{"SRS1=0oRr=fwd1.test==abcd=XY=first.test=mallory", refTime, "", errSRSHash},
		{"SRS0=2j0N=G3=origin.test", refTime, "", errSRSForm},
		{"SRS1=0oRr=fwd1.test", refTime, "", errSRSForm},
		{"SRS2=2j0N=G3=origin.test=alice", refTime, "", errSRSForm},
	} {
		got, err := refCodec(tc.at).reverse(tc.local)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("reverse(%s) at %s = %q, %v; want %q, %v", tc.local, tc.at.UTC().Format(time.DateOnly), got, err, tc.want, tc.err)
		}
	}
}

// TestSRSStampWraps: a stamp made on the last day of a 1024-day cycle is
// fresh on the first days of the next, as the reference counts.
func TestSRSStampWraps(t *testing.T) {
	day := int64(86400)
	made := time.Unix(1023*day, 0) // day 1023 of cycle 0
	c := refCodec(made)
	addr := c.forward("erin@origin.test")
	if s := stamp(made); s != "77" {
		t.Fatalf("stamp of day 1023 = %s, want 77", s)
	}
	local := addr[:len(addr)-len("@example.org")]
	c.now = func() time.Time { return time.Unix((1024+20)*day, 0) }
	if got, err := c.reverse(local); err != nil || got != "erin@origin.test" {
		t.Errorf("21 days later, across the wrap: %q, %v", got, err)
	}
	c.now = func() time.Time { return time.Unix((1024+21)*day, 0) }
	if _, err := c.reverse(local); !errors.Is(err, errSRSExpired) {
		t.Errorf("22 days later, across the wrap: %v, want expired", err)
	}
}

// TestSRSRoundTrip: every address made reverses to its sender, with the
// first secret and after it has become the second.
func TestSRSRoundTrip(t *testing.T) {
	c := refCodec(refTime)
	for s, want := range map[string]string{
		"a@b.test":                       "a@b.test",
		"first.last+tag@sub.origin.test": "first.last+tag@sub.origin.test",
		// An SRS1 reverses to the first forwarder's SRS0 address: s.
		"SRS0=abcd=XY=first.test=carol@fwd1.test": "SRS0=abcd=XY=first.test=carol@fwd1.test",
		// The domain comes back as its A-labels (TestSRSForwardIDN).
		"Ünï@bücher.example": "Ünï@xn--bcher-kva.example",
	} {
		addr := c.forward(s)
		local := addr[:len(addr)-len("@example.org")]
		if got, err := c.reverse(local); err != nil || got != want {
			t.Errorf("%s → %s → %q, %v", s, addr, got, err)
		}
		rotated := &srsCodec{domain: c.domain, secrets: func() []string { return []string{"new", "s3cret"} }, maxAge: 21, now: c.now}
		if got, err := rotated.reverse(local); err != nil || got != want {
			t.Errorf("after rotation: %s → %q, %v", addr, got, err)
		}
	}
}

// TestSRSForwardIDN: a sender at a Unicode domain gets an SRS address
// with the domain's A-labels in it, ASCII when its local part is: the
// message can still go, downgraded, to a server without SMTPUTF8, which
// a UTF-8 local part could not.
func TestSRSForwardIDN(t *testing.T) {
	c := refCodec(refTime)
	for _, from := range []string{"alice@bücher.example", "alice@xn--bcher-kva.example"} {
		want := "SRS0=" + srsHashOf("s3cret", "G3", "xn--bcher-kva.example", "alice") + "=G3=xn--bcher-kva.example=alice@example.org"
		if got := c.forward(from); got != want {
			t.Errorf("forward(%s) = %s, want %s", from, got, want)
		}
	}
	got := c.forward("SRS0=abcd=XY=first.test=carol@bücher.example")
	if want := "SRS1=" + srsHashOf("s3cret", "xn--bcher-kva.example", "=abcd=XY=first.test=carol") + "=xn--bcher-kva.example==abcd=XY=first.test=carol@example.org"; got != want {
		t.Errorf("SRS1: %s, want %s", got, want)
	}
}
