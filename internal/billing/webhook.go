package billing

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/postamail/posta/internal/directory"
)

// SignatureHeader carries the webhook's signature: "sha256=" and the hex HMAC-SHA256 of the
// request body keyed with the webhook secret.
const SignatureHeader = "X-Posta-Signature"

// WebhookPayment is the body a payment provider posts to the webhook.
type WebhookPayment struct {
	Tenant    string `json:"tenant"`     // tenant id or name
	AmountEUR string `json:"amount_eur"` // "100.00": a string, parsed exactly
	Reference string `json:"reference"`  // the payment's unique id: a second delivery is a no-op
	Date      string `json:"date,omitempty"`
}

// Sign returns the signature header value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Webhook records a payment posted by an external payment provider. The body must be signed
// with the secret stored in the database (see RotateWebhookSecret); a payment whose reference
// is already recorded for the same tenant and amount is answered with that movement marked
// Duplicate, so that retries and replays never credit twice. remote is the caller's address,
// kept as the movement's origin.
func (s *Service) Webhook(ctx context.Context, body []byte, signature, remote string) (*Movement, error) {
	_, secret, err := loadSettings(ctx, s.db)
	if err != nil {
		return nil, err
	}
	if secret == "" {
		return nil, refuse("webhook-disabled", "", "the payment webhook has no secret: run 'posta billing webhook-secret'")
	}
	want := Sign(secret, body)
	if !hmac.Equal([]byte(strings.TrimSpace(signature)), []byte(want)) {
		return nil, refuse("invalid-signature", "", "the request is not signed with the webhook secret (%s: sha256=HMAC-SHA256 of the body, hex)", SignatureHeader)
	}
	var p WebhookPayment
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, invalid("body", "the payment is not valid JSON of the expected shape: %v", err)
	}
	actor := directory.Actor{Role: directory.RoleSystem, Name: "payment-webhook", Remote: remote}
	ctx = directory.WithActor(ctx, actor)
	t, err := s.dir.GetTenant(ctx, p.Tenant)
	if err != nil {
		return nil, err
	}
	m, err := s.recharge(ctx, actor, t.ID, RechargeSpec{EUR: p.AmountEUR, Reference: p.Reference, Date: p.Date, Reason: "payment webhook"}, true)
	if err != nil {
		return nil, err
	}
	if !m.Duplicate {
		s.afterMovement(ctx, t.ID)
	}
	return m, nil
}
