package smtpserver

import (
	"errors"
	"fmt"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/mailstore"
)

func TestMapError(t *testing.T) {
	tests := []struct {
		err  error
		code int
		enh  smtp.EnhancedCode
	}{
		{deliver.ErrUnknownRecipient, 550, smtp.EnhancedCode{5, 1, 1}},
		{mailstore.ErrNoAccount, 550, smtp.EnhancedCode{5, 1, 1}},
		{deliver.ErrOverQuota, 452, smtp.EnhancedCode{4, 2, 2}},
		{fmt.Errorf("wrapped: %w", mailstore.ErrOverQuota), 452, smtp.EnhancedCode{4, 2, 2}},
		{deliver.ErrMailboxDisabled, 550, smtp.EnhancedCode{5, 2, 1}},
		{deliver.ErrNoMailService, 550, smtp.EnhancedCode{5, 7, 1}},
		{deliver.ErrNotAllowedToPost, 550, smtp.EnhancedCode{5, 7, 1}},
		{deliver.ErrTooLarge, 552, smtp.EnhancedCode{5, 3, 4}},
		{errRelayDenied, 554, smtp.EnhancedCode{5, 7, 1}},
		{errors.New("disk on fire"), 451, smtp.EnhancedCode{4, 3, 0}},
	}
	for _, tt := range tests {
		got := mapError(tt.err)
		if got.Code != tt.code || got.EnhancedCode != tt.enh {
			t.Errorf("mapError(%v) = %d %v, want %d %v", tt.err, got.Code, got.EnhancedCode, tt.code, tt.enh)
		}
	}
	if e := errTooBig(30408704); e.Code != 552 || e.EnhancedCode != (smtp.EnhancedCode{5, 3, 4}) {
		t.Errorf("too big: %+v", e)
	}
	if e := errNotYourAddress("evil\r\nRCPT TO:<x>@y"); e.Code != 553 || containsCRLF(e.Message) {
		t.Errorf("not your address: %+v", e)
	}
}

func containsCRLF(s string) bool {
	for _, c := range s {
		if c == '\r' || c == '\n' {
			return true
		}
	}
	return false
}
