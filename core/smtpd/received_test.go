package smtpd

import (
	"net/netip"
	"testing"
	"time"
)

func TestReceivedHeader(t *testing.T) {
	date := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	for _, tc := range []struct {
		name string
		in   ReceivedTrace
		want string
	}{{
		name: "one recipient",
		in:   ReceivedTrace{Helo: "client.test", Client: netip.MustParseAddr("192.0.2.7"), Host: "mx.test", ID: "ID1", For: "b@example.org", Date: date},
		want: "Received: from client.test ([192.0.2.7])\r\n" +
			"\tby mx.test (Sluice) with ESMTP id ID1\r\n" +
			"\tfor <b@example.org>; Tue, 04 Mar 2025 05:06:07 +0100\r\n",
	}, {
		name: "several recipients, IPv6, TLS, AUTH",
		in:   ReceivedTrace{Helo: "client.test", Client: netip.MustParseAddr("2001:db8::1"), Host: "mx.test", TLS: true, Auth: true, ID: "ID2", Date: date},
		want: "Received: from client.test ([IPv6:2001:db8::1])\r\n" +
			"\tby mx.test (Sluice) with ESMTPSA id ID2;\r\n" +
			"\tTue, 04 Mar 2025 05:06:07 +0100\r\n",
	}, {
		name: "SMTPUTF8 and a hostile HELO",
		in:   ReceivedTrace{Helo: "evil(\r\nX-Injected:;)", Client: netip.MustParseAddr("192.0.2.7"), Host: "mx.test", TLS: true, SMTPUTF8: true, ID: "ID3", Date: date},
		want: "Received: from evil???X-Injected:?? ([192.0.2.7])\r\n" +
			"\tby mx.test (Sluice) with UTF8SMTPS id ID3;\r\n" +
			"\tTue, 04 Mar 2025 05:06:07 +0100\r\n",
	}, {
		// RFC 8314 §4.3: the cipher suite as the "tls" clause, after "for".
		name: "TLS cipher, one recipient",
		in:   ReceivedTrace{Helo: "client.test", Client: netip.MustParseAddr("192.0.2.7"), Host: "mx.test", TLS: true, TLSCipher: "TLS_AES_128_GCM_SHA256", ID: "ID5", For: "b@example.org", Date: date},
		want: "Received: from client.test ([192.0.2.7])\r\n" +
			"\tby mx.test (Sluice) with ESMTPS id ID5\r\n" +
			"\tfor <b@example.org>\r\n" +
			"\ttls TLS_AES_128_GCM_SHA256; Tue, 04 Mar 2025 05:06:07 +0100\r\n",
	}, {
		name: "TLS cipher, several recipients",
		in:   ReceivedTrace{Helo: "client.test", Client: netip.MustParseAddr("192.0.2.7"), Host: "mx.test", TLS: true, TLSCipher: "TLS_CHACHA20_POLY1305_SHA256", ID: "ID6", Date: date},
		want: "Received: from client.test ([192.0.2.7])\r\n" +
			"\tby mx.test (Sluice) with ESMTPS id ID6\r\n" +
			"\ttls TLS_CHACHA20_POLY1305_SHA256; Tue, 04 Mar 2025 05:06:07 +0100\r\n",
	}, {
		// received = "hide-client": no from clause, the rest as always.
		name: "client hidden",
		in:   ReceivedTrace{Helo: "laptop.home", Client: netip.MustParseAddr("198.51.100.9"), ClientName: "dsl.example.net", Host: "mx.test", TLS: true, Auth: true, TLSCipher: "TLS_AES_128_GCM_SHA256", ID: "ID7", For: "b@example.org", Date: date, HideClient: true},
		want: "Received: by mx.test (Sluice) with ESMTPSA id ID7\r\n" +
			"\tfor <b@example.org>\r\n" +
			"\ttls TLS_AES_128_GCM_SHA256; Tue, 04 Mar 2025 05:06:07 +0100\r\n",
	}, {
		// received_auth_user: Postfix's comment between from and by.
		name: "auth sender",
		in:   ReceivedTrace{Helo: "laptop.home", Client: netip.MustParseAddr("198.51.100.9"), Host: "mx.test", Auth: true, ID: "ID8", Date: date, AuthUser: "alice"},
		want: "Received: from laptop.home ([198.51.100.9])\r\n" +
			"\t(Authenticated sender: alice)\r\n" +
			"\tby mx.test (Sluice) with ESMTPA id ID8;\r\n" +
			"\tTue, 04 Mar 2025 05:06:07 +0100\r\n",
	}, {
		// Both: no from clause, the comment after "by HOST (Sluice)".
		name: "auth sender, client hidden",
		in:   ReceivedTrace{Helo: "laptop.home", Client: netip.MustParseAddr("198.51.100.9"), Host: "mx.test", Auth: true, ID: "ID9", Date: date, HideClient: true, AuthUser: "alice"},
		want: "Received: by mx.test (Sluice)\r\n" +
			"\t(Authenticated sender: alice)\r\n" +
			"\twith ESMTPA id ID9;\r\n" +
			"\tTue, 04 Mar 2025 05:06:07 +0100\r\n",
	}, {
		name: "8-bit HELO",
		in:   ReceivedTrace{Helo: "caf\xc3\xa9.\xff", Client: netip.MustParseAddr("192.0.2.7"), Host: "mx.test", HELO: true, ID: "ID4", Date: date},
		want: "Received: from caf??.? ([192.0.2.7])\r\n" +
			"\tby mx.test (Sluice) with SMTP id ID4;\r\n" +
			"\tTue, 04 Mar 2025 05:06:07 +0100\r\n",
	}} {
		if got := string(ReceivedHeader(tc.in)); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
