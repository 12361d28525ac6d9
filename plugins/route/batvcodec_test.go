package route

import (
	"errors"
	"testing"
	"time"
)

// eximDay is the day Exim 4.96 (Debian's exim4-daemon-light, as
// scripts/install-deps.sh exim extracts it) made the vectors below, day
// 20787 since the epoch: with a config of spool_directory and
// log_file_path alone,
//
//	exim4 -C e.conf -be '${prvs{alice@example.org}{s3cret}{0}}'
//
// and so on for each; ${prvscheck{TAGGED}{SECRET}} then gave the address
// with $prvscheck_result 1. Exim signs for 7 days: DDD is 794.
var eximDay = time.Date(2026, 11, 30, 16, 29, 49, 0, time.UTC)

var eximVectors = []struct{ addr, secret, tagged string }{
	{"alice@example.org", "s3cret", "prvs=07946b0a30=alice@example.org"},
	{"a@b.example", "k", "prvs=07941faffc=a@b.example"},
	{"u@xn--bcher-kva.example", "k", "prvs=0794bc92dd=u@xn--bcher-kva.example"},
	// ${prvs{Bob.Smith@Example.ORG}{another secret}{3}}: key number 3,
	// the address hashed as written.
	{"Bob.Smith@Example.ORG", "another secret", "prvs=3794a560aa=Bob.Smith@Example.ORG"},
}

func batvCodecAt(at time.Time, secrets ...string) *batvCodec {
	return &batvCodec{secrets: func() []string { return secrets }, maxAge: 7, now: func() time.Time { return at }}
}

// TestBATVCodecExim: the codec makes Exim's tags (key number 0) and takes
// each of them back, under any of its secrets.
func TestBATVCodecExim(t *testing.T) {
	for _, v := range eximVectors {
		c := batvCodecAt(eximDay, v.secret)
		if v.tagged[5] == '0' {
			if got := c.sign(v.addr); got != v.tagged {
				t.Errorf("sign(%s) = %s, Exim's is %s", v.addr, got, v.tagged)
			}
		}
		c = batvCodecAt(eximDay, "newer", v.secret)
		if got, err := c.check(v.tagged); got != v.addr || err != nil {
			t.Errorf("check(%s) = %q, %v; want %s", v.tagged, got, err, v.addr)
		}
	}
}

// TestBATVCodecCheck: a tag is good from the day it is made to its
// expiry day, across the wrap of DDD at 1000; its hash is taken in any
// case, its domain in any case, its tag type in any case; a tag under
// another secret, or malformed, is not.
func TestBATVCodecCheck(t *testing.T) {
	day := func(n int) time.Time { return eximDay.AddDate(0, 0, n) }
	c := batvCodecAt(eximDay, "s3cret")
	for _, tc := range []struct {
		at     time.Time
		tagged string
		want   string
		err    error
	}{
		{day(0), "prvs=07946b0a30=alice@example.org", "alice@example.org", nil},
		{day(7), "prvs=07946b0a30=alice@example.org", "alice@example.org", nil},
		{day(8), "prvs=07946b0a30=alice@example.org", "", errBATVExpired},
		// Its expiry 8 days ahead: more than max_age_days, no tag made here.
		{day(-1), "prvs=07946b0a30=alice@example.org", "", errBATVExpired},
		{day(0), "PRVS=07946B0A30=alice@EXAMPLE.org", "alice@EXAMPLE.org", nil},
		{day(0), "prvs=07946b0a31=alice@example.org", "", errBATVHash},
		{day(0), "prvs=07946b0a30=Alice@example.org", "", errBATVHash},
		{day(0), "prvs=17946b0a30=alice@example.org", "", errBATVHash},
		{day(0), "prvs=0794g6b0a3=alice@example.org", "", errBATVForm},
		{day(0), "prvs=07946b0a3=alice@example.org", "", errBATVForm},
		{day(0), "prvs=07946b0a30alice@example.org", "", errBATVForm},
		{day(0), "prvs=07946b0a30=@example.org", "", errBATVForm},
		{day(0), "alice@example.org", "", errBATVForm},
	} {
		c.now = func() time.Time { return tc.at }
		if got, err := c.check(tc.tagged); got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("on %s check(%s) = %q, %v; want %q, %v", tc.at.Format(time.DateOnly), tc.tagged, got, err, tc.want, tc.err)
		}
	}
	other := batvCodecAt(eximDay, "guessed")
	if _, err := c.check(other.sign("alice@example.org")); !errors.Is(err, errBATVHash) {
		t.Errorf("a tag under another secret: %v", err)
	}

	// Day 20995 (995): the tag expires on day 21002, DDD 002.
	wrap := time.Unix(20995*86400, 0)
	c = batvCodecAt(wrap, "s3cret")
	tagged := c.sign("alice@example.org")
	if tagged[5:9] != "0002" {
		t.Fatalf("signed on day 995: %s, want DDD 002", tagged)
	}
	for n, want := range map[int]error{0: nil, 4: nil, 7: nil, 8: errBATVExpired, 900: errBATVExpired} {
		c.now = func() time.Time { return wrap.AddDate(0, 0, n) }
		if _, err := c.check(tagged); !errors.Is(err, want) {
			t.Errorf("%d days after: %v, want %v", n, err, want)
		}
	}
}
