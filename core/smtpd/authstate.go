package smtpd

import (
	"github.com/sluice-mta/sluice/core/auth"
	"github.com/sluice-mta/sluice/core/auth/dovecot"
)

// authState is what [auth] gives the server: the built-in user database
// or the Dovecot that checks passwords, and who may send as whom. A reload
// replaces it whole (SetAuth).
type authState struct {
	users   UserDB          // nil: no built-in user database
	dovecot *dovecot.Client // nil: no dovecot_socket
	senders *auth.Senders
	// fromHeader holds the From: field to senders too (check_from_header).
	fromHeader bool
}

// dovecotClient is the dovecot_socket st asks, or nil.
func (st *authState) dovecotClient() *dovecot.Client {
	if st == nil {
		return nil
	}
	return st.dovecot
}

// usersFile is the users_file st reads, or nil.
func (st *authState) usersFile() *auth.File {
	if st == nil {
		return nil
	}
	f, _ := st.users.(*auth.File)
	return f
}

// users is the current built-in user database; nil: none.
func (s *Server) users() UserDB { return s.auth.Load().users }
