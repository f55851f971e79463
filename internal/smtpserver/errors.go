package smtpserver

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"

	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/mailstore"
)

// The SMTP answers posta gives, with their enhanced status codes (RFC 3463).
var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errTLSRequired  = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11}, Message: "Encryption required: use STARTTLS first"}
	errAuthzDenied  = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authorization identity not allowed"}
	errRelayDenied  = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied: authenticate to send to other domains"}
	errNoSuchUser   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errTemporary    = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, please try again later"}
)

func errTooBig(limit int64) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: fmt.Sprintf("Message too big: the limit is %d bytes", limit)}
}

func errNotYourAddress(addr string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: fmt.Sprintf("Sender address <%s> is not one of your addresses", sanitize(addr))}
}

// mapError is the one place where delivery errors become SMTP answers.
func mapError(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, deliver.ErrUnknownRecipient), errors.Is(err, mailstore.ErrNoAccount):
		return errNoSuchUser
	case errors.Is(err, deliver.ErrOverQuota), errors.Is(err, mailstore.ErrOverQuota):
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full, try again later"}
	case errors.Is(err, deliver.ErrMailboxDisabled), errors.Is(err, mailstore.ErrAccountClosed):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 2, 1}, Message: "Mailbox disabled, not accepting messages"}
	case errors.Is(err, deliver.ErrNoMailService):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "The recipient's service does not include mail"}
	case errors.Is(err, deliver.ErrNotAllowedToPost):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "You are not allowed to post to this list"}
	case errors.Is(err, deliver.ErrTooLarge):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big for the recipient"}
	}
	return errTemporary
}

func tlsVersion(v uint16) string { return tls.VersionName(v) }

func tlsCipher(c uint16) string { return tls.CipherSuiteName(c) }
