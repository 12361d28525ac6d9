package rejectfooter

import (
	"reflect"
	"strings"
	"testing"
)

var vars = Vars{ClientAddress: "192.0.2.7", ClientPort: "40001", LocalTime: "Mar 04 05:06:07", Hostname: "mx.test", Listener: "mx"}

func TestParseAndLines(t *testing.T) {
	for _, tc := range []struct {
		tmpl string
		join bool
		want []string
	}{
		{"For help, contact postmaster@example.org", false, []string{"For help, contact postmaster@example.org"}},
		{`\cfrom $client_address:$client_port at $localtime`, true, []string{"from 192.0.2.7:40001 at Mar 04 05:06:07"}},
		{`server ${hostname} (${myhostname}) $(listener)\nsecond line costs $$5`, false, []string{"server mx.test (mx.test) mx", "second line costs $5"}},
		{"one\ntwo", false, []string{"one", "two"}},
		{"a \\c is literal inside", false, []string{`a \c is literal inside`}},
		{"$localtime$hostname", false, []string{"Mar 04 05:06:07mx.test"}},
	} {
		f, err := Parse(tc.tmpl)
		if err != nil {
			t.Fatalf("%q: %v", tc.tmpl, err)
		}
		if f.Join() != tc.join {
			t.Errorf("%q: join %v, want %v", tc.tmpl, f.Join(), tc.join)
		}
		if got := f.Lines(vars); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: lines %q, want %q", tc.tmpl, got, tc.want)
		}
	}
	if f, err := Parse(""); f != nil || err != nil {
		t.Errorf(`Parse(""): %v, %v; want nil, nil`, f, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ tmpl, want string }{
		{"from $sender", "unknown macro $sender: want $client_address, $client_port, $localtime, $hostname (or $myhostname), $listener, and $$ for a dollar sign"},
		{"${server_name}", "unknown macro $server_name"},
		{"costs $5", "unknown macro $5"},
		{"costs $ 5", "a lone $: write $$ for a dollar sign"},
		{"ends in $", "a lone $"},
		{"${hostname", `${hostname: no closing '}'`},
		{"$()", "$(): no macro name"},
		{"bad\rline", `"bad\rline": want printable ASCII (RFC 5321 §4.2), not '\r'`},
		{"café", `"café": want printable ASCII (RFC 5321 §4.2), not 'é'`},
	} {
		_, err := Parse(tc.tmpl)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want prefix %q", tc.tmpl, err, tc.want)
		}
	}
}

func TestAppend(t *testing.T) {
	plain, _ := Parse(`For help see https://example.org/help\nfrom $client_address`)
	if got, want := plain.Append([]string{"Relay access denied"}, len("554-5.7.1 \r\n"), vars),
		[]string{"Relay access denied", "For help see https://example.org/help", "from 192.0.2.7"}; !reflect.DeepEqual(got, want) {
		t.Errorf("plain: %q, want %q", got, want)
	}
	joined, _ := Parse(`\c (ask postmaster)\nsecond`)
	if got, want := joined.Append([]string{"first", "User unknown"}, len("550-5.1.1 \r\n"), vars),
		[]string{"first", "User unknown (ask postmaster)", "second"}; !reflect.DeepEqual(got, want) {
		t.Errorf("joined: %q, want %q", got, want)
	}
	// A last line the footer would take past 512 bytes keeps its
	// length; the footer's first line has one of its own.
	prefix := len("550-5.1.1 \r\n")
	full := strings.Repeat("x", MaxLine-prefix-len(" (ask postmaster)"))
	if got := joined.Append([]string{full}, prefix, vars); !reflect.DeepEqual(got, []string{full + " (ask postmaster)", "second"}) {
		t.Errorf("a line just fitting: %q", got)
	}
	if got := joined.Append([]string{full + "x"}, prefix, vars); !reflect.DeepEqual(got, []string{full + "x", " (ask postmaster)", "second"}) {
		t.Errorf("a line one over: %q", got)
	}
	var none *Footer
	if got := none.Append([]string{"a"}, 10, vars); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("no footer: %q", got)
	}
}

func TestLongest(t *testing.T) {
	f, _ := Parse(`short\n$client_address $client_port $localtime $hostname $listener`)
	want := len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff unknown Jan 02 15:04:05 mx.example.org submission")
	if got := f.Longest("mx.example.org", "submission"); got != want {
		t.Errorf("Longest = %d, want %d", got, want)
	}
}
