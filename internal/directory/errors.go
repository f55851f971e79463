package directory

import (
	"errors"
	"fmt"
)

// Error is a refusal by a directory rule. Kind is stable (the JSON API's problem type), Field
// names the offending input when there is one, Msg is for people.
type Error struct {
	Kind  string
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return e.Kind
	}
	return e.Msg
}

// Is matches errors of the same kind, so errors.Is(err, ErrCapExceeded) works on any refusal
// of that kind.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Kind == e.Kind && t.Field == "" && t.Msg == ""
}

// Sentinels, one per kind.
var (
	ErrNotFound           = &Error{Kind: "not-found"}
	ErrForbidden          = &Error{Kind: "forbidden"}
	ErrAddressTaken       = &Error{Kind: "address-taken"}
	ErrCapExceeded        = &Error{Kind: "contract-cap-exceeded"}
	ErrQuotaBelowUsage    = &Error{Kind: "quota-below-usage"}
	ErrInvalidAddress     = &Error{Kind: "invalid-address"}
	ErrInvalid            = &Error{Kind: "invalid-argument"}
	ErrDomainNotOwned     = &Error{Kind: "domain-not-owned"}
	ErrUnknownCOS         = &Error{Kind: "unknown-cos"}
	ErrWeakPassword       = &Error{Kind: "weak-password"}
	ErrListLoop           = &Error{Kind: "list-loop"}
	ErrDomainInUse        = &Error{Kind: "domain-in-use"}
	ErrTenantSuspended    = &Error{Kind: "tenant-suspended"}
	ErrInsufficientCredit = &Error{Kind: "insufficient-credit"}
	ErrInvalidCredentials = &Error{Kind: "invalid-credentials", Msg: "invalid credentials"}
	// ErrTOTPEnrolment: the actor must turn on two-factor login before anything else.
	ErrTOTPEnrolment = &Error{Kind: "totp-enrolment-required"}
	// ErrTOTPEnforced: two-factor login is required and cannot be turned off.
	ErrTOTPEnforced = &Error{Kind: "totp-enforced"}
)

func refuse(kind, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Error {
	return refuse("not-found", "", format, args...)
}

func forbidden(format string, args ...any) *Error {
	return refuse("forbidden", "", format, args...)
}

func invalid(field, format string, args ...any) *Error {
	return refuse("invalid-argument", field, format, args...)
}

var errTOTPEnrolment = refuse("totp-enrolment-required", "", "two-factor login is required for your administrator account: turn it on first")
