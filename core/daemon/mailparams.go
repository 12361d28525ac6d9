package daemon

import (
	"strconv"

	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/core/smtpd"
)

// mailParams are the MAIL command's ESMTP parameters as the stages see
// them (sdk.Envelope.MailParams), each in the command's form: the DSN
// ones (delivery.MailParams), SIZE in digits, BODY, SMTPUTF8 and
// REQUIRETLS without a value, and AUTH as xtext. Milters get them as
// SMFIC_MAIL's arguments, as Postfix passes a client's on. nil when the
// command had none.
func mailParams(info *smtpd.SessionInfo) map[string]string {
	p := delivery.MailParams(info.DSNRet, info.DSNEnvID)
	set := func(k, v string) {
		if p == nil {
			p = map[string]string{}
		}
		p[k] = v
	}
	o := &info.MailOpts
	if o.Size > 0 {
		set("SIZE", strconv.FormatInt(o.Size, 10))
	}
	if o.Body != "" {
		set("BODY", o.Body)
	}
	if o.SMTPUTF8 {
		set("SMTPUTF8", "")
	}
	if o.RequireTLS {
		set("REQUIRETLS", "")
	}
	if o.Auth != nil {
		// RFC 4954 §5: a server that does not trust the client, or whose
		// client has not authenticated, behaves as if AUTH=<> was given;
		// a stage taking a stranger's word for its submitter could be
		// made to trust anyone.
		submitter := ""
		if info.AuthUser != "" {
			submitter = *o.Auth
		}
		set(delivery.ParamAuth, delivery.AuthParam(submitter))
	}
	return p
}
