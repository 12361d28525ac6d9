#!/usr/bin/python3
"""Sluice's own libmilter test peer (Debian's python3-milter): every milter
action an MTA must handle, chosen by the message's Subject.

usage: allactions.py inet:PORT@127.0.0.1

  Subject        answer at end of message
  reject         setreply 550 5.7.1 + REJECT        tempfail  setreply 451 4.7.1 + TEMPFAIL
  plain-reject   REJECT (the MTA's default reply)   plain-tempfail  TEMPFAIL
  discard        DISCARD                            accept    ACCEPT
  quarantine     quarantine("held by allactions")
  anything else  every modification: addheader (folded with a bare LF),
                 insheader at 0, chgheader Subject, chgheader X-Delete-Me to ""
                 (delete), chgfrom with ESMTP args, addrcpt with args
                 (SMFIR_ADDRCPT_PAR), delrcpt of the first recipient,
                 progress, replacebody in three chunks; and an X-Saw header
                 listing the macros and envelope it received.
RCPT TO:<refuse@...> is refused at RCPT with setreply 550 5.1.1.
"""
import sys
import Milter

MACROS = ("j", "_", "{daemon_name}", "{client_addr}", "{client_name}", "{client_port}",
          "{if_addr}", "{mail_addr}", "{rcpt_addr}", "i", "{auth_type}")


class AllActions(Milter.Base):
    def __init__(self):
        self.reset()
        self.conn_macros = {}

    def reset(self):
        self.rcpts, self.subject, self.sender, self.macros = [], "", "", {}

    def grab(self):
        for m in MACROS:
            v = self.getsymval(m)
            if v:
                self.macros[m] = v

    def connect(self, host, family, hostaddr):
        for m in ("j", "_", "{daemon_name}", "{client_addr}", "{client_name}", "{client_port}", "{if_addr}"):
            v = self.getsymval(m)
            if v:
                self.conn_macros[m] = v
        return Milter.CONTINUE

    def envfrom(self, f, *args):
        self.reset()
        self.sender = f
        self.grab()
        return Milter.CONTINUE

    def envrcpt(self, r, *args):
        self.grab()
        if r.lower().startswith("<refuse@"):
            self.setreply("550", "5.1.1", "refused by allactions")
            return Milter.REJECT
        self.rcpts.append(r)
        return Milter.CONTINUE

    def header(self, k, v):
        if k.lower() == "subject":
            self.subject = v.strip()
        return Milter.CONTINUE

    def eom(self):
        self.grab()
        s = self.subject.lower()
        if s == "reject":
            self.setreply("550", "5.7.1", "rejected by allactions")
            return Milter.REJECT
        if s == "tempfail":
            self.setreply("451", "4.7.1", "try later (allactions)")
            return Milter.TEMPFAIL
        if s == "plain-reject":
            return Milter.REJECT
        if s == "plain-tempfail":
            return Milter.TEMPFAIL
        if s == "discard":
            return Milter.DISCARD
        if s == "accept":
            return Milter.ACCEPT
        if s == "quarantine":
            self.quarantine("held by allactions")
            return Milter.CONTINUE
        seen = dict(self.conn_macros, **self.macros)
        saw = " ".join("%s=%s" % (k, seen[k]) for k in sorted(seen))
        self.addheader("X-Saw", "from=%s rcpts=%s %s" % (self.sender, ",".join(self.rcpts), saw))
        self.addheader("X-AllActions-Added", "line one\n\tline two")
        self.addheader("X-AllActions-Top", "inserted at top", 0)
        self.chgheader("Subject", 1, "[rewritten] " + self.subject)
        self.chgheader("X-Delete-Me", 1, "")
        self.chgfrom("<bounce@allactions.test>", "BODY=8BITMIME")
        self.addrcpt("<added@allactions.test>", "NOTIFY=NEVER")
        if self.rcpts:
            self.delrcpt(self.rcpts[0])
        self.progress()
        for part in (b"replaced body part 1\r\n", b"part 2\n", b"part 3 (end)\r\n"):
            self.replacebody(part)
        return Milter.CONTINUE

    def abort(self):
        self.reset()
        return Milter.CONTINUE


if __name__ == "__main__":
    sock = sys.argv[1]
    Milter.factory = AllActions
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY | Milter.ADDRCPT | Milter.ADDRCPT_PAR |
                     Milter.DELRCPT | Milter.QUARANTINE | Milter.CHGFROM)
    print("allactions milter on", sock, flush=True)
    Milter.runmilter("allactions", sock, 60)
