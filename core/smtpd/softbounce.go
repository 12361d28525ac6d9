package smtpd

import (
	"fmt"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/reply"
)

// soft_bounce (config.Config.SoftBounce) makes every 5xx reply a
// listener sends a 4xx with the same text, the enhanced code's class
// 5 made 4 too, so that a client keeps the mail it would otherwise have
// returned. As Postfix's smtpd_chat_reply, it covers every reply, the
// syntax and sequence errors (500-504, 5.5.x) included: Postfix exempts
// none. A reload applies it at once, in open sessions too.

// SetSoftBounce makes c's soft_bounce the running server's, for a reload.
func (s *Server) SetSoftBounce(c *config.Config) { s.softBounce.Store(c.SoftBounce) }

// replyCode is go-smtp's ReplyCode: it sees every reply just before it is
// written, go-smtp's own as well as the session's, and so it is where the
// error tarpit holds back those that are no error's (beforeReply).
func (s *Server) replyCode(sc *smtp.Conn, code int, ec smtp.EnhancedCode) (int, smtp.EnhancedCode) {
	if c := connOf(sc); c != nil {
		c.beforeReply()
	}
	if !s.softBounce.Load() || code/100 != 5 {
		return code, ec
	}
	if ec[0] == 5 {
		ec[0] = 4
	}
	return code - 100, ec
}

// sent is r as the client gets it: turned to 4xx under soft_bounce.
func (s *Server) sent(r *reply.Reply) *reply.Reply {
	if !s.softBounce.Load() || r.Code/100 != 5 {
		return r
	}
	t := *r
	t.Code -= 100
	if t.Enhanced[0] == 5 {
		t.Enhanced[0] = 4
	}
	return &t
}

// softLogged is r as a log line gives it, the reply the client got, and
// the attributes that say soft_bounce turned it and from what, so that an
// operator reading a 4xx knows it would have been a refusal for good.
func (s *Server) softLogged(r *reply.Reply) (*reply.Reply, []any) {
	t := s.sent(r)
	if t == r {
		return r, nil
	}
	was := fmt.Sprintf("%d", r.Code)
	if r.Enhanced != [3]int{} {
		was = fmt.Sprintf("%d %d.%d.%d", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2])
	}
	return t, []any{"soft_bounce", "turned " + was}
}
