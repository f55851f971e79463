package billing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
)

// evaluateWarnings compares a pay-per-use tenant's balance with its daily burn and, when it has
// crossed a threshold downwards since the last warning, e-mails the contact once; when the
// balance has risen (a recharge), it re-arms the warnings without writing. It reports whether a
// warning was sent.
func (s *Service) evaluateWarnings(ctx context.Context, tenantID int64, st Settings, pb priceBook) (bool, error) {
	t, err := getTenantRow(ctx, s.db, tenantID)
	if err != nil {
		return false, err
	}
	w, exists, err := readWallet(ctx, s.db, t)
	if err != nil || !exists {
		return false, err
	}
	level := 0
	var burn MilliPoints
	if t.Contract == directory.ContractPayg {
		if burn, _, err = currentBurn(ctx, s.db, t.ID, s.today(), pb); err != nil {
			return false, err
		}
		level = warnLevel(w.Balance, burn, st.WarnDays)
	}
	if level == w.WarnedLevel {
		return false, nil
	}
	// Compare-and-set: of several runs (or nodes) evaluating at once, one sends.
	res, err := s.db.ExecContext(ctx, `UPDATE billing_wallets SET warned_level = ? WHERE tenant_id = ? AND warned_level = ?`, level, t.ID, w.WarnedLevel)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 || level < w.WarnedLevel {
		return false, nil
	}
	raw := s.warningMessage(t, level, w, burn, st)
	if s.opts.Notify == nil {
		s.log.Warn("billing: low credit (no mail configured)", "tenant", t.Name, "level", WarnStates[level])
		return true, nil
	}
	if err := s.opts.Notify(ctx, t.Contact, raw); err != nil {
		// Send again at the next evaluation.
		s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE billing_wallets SET warned_level = ? WHERE tenant_id = ? AND warned_level = ?`, w.WarnedLevel, t.ID, level)
		return false, fmt.Errorf("billing: warning to %s: %w", t.Contact, err)
	}
	return true, nil
}

// warningMessage is the e-mail to a tenant's contact, in Italian and English.
func (s *Service) warningMessage(t *tenantRow, level int, w *wallet, burn MilliPoints, st Settings) []byte {
	days := "-"
	if burn > 0 && w.Balance > 0 {
		days = fmt.Sprint(int64(w.Balance / burn))
	}
	var subjIT, subjEN, bodyIT, bodyEN string
	switch level {
	case 3:
		subjIT, subjEN = "Credito esaurito", "Credit exhausted"
		bodyIT = fmt.Sprintf("il credito a consumo di %s è esaurito (saldo %s punti).\r\n"+
			"Tra %d giorni non sarà più possibile creare nuove caselle né passare a una classe di servizio superiore\r\n"+
			"finché non verrà effettuata una ricarica. Nessun dato viene cancellato.", t.Name, w.Balance, st.GraceDays)
		bodyEN = fmt.Sprintf("the pay-per-use credit of %s is exhausted (balance %s points).\r\n"+
			"In %d days no new mailboxes or upgrades to a dearer class of service will be possible\r\n"+
			"until the credit is recharged. No data is ever deleted.", t.Name, w.Balance, st.GraceDays)
	default:
		subjIT, subjEN = "Credito in esaurimento", "Credit running low"
		bodyIT = fmt.Sprintf("il credito a consumo di %s copre ancora circa %s giorni ai consumi attuali\r\n"+
			"(saldo %s punti, consumo giornaliero %s punti). Effettua una ricarica per tempo.", t.Name, days, w.Balance, burn)
		bodyEN = fmt.Sprintf("the pay-per-use credit of %s covers about %s more days at the current use\r\n"+
			"(balance %s points, daily use %s points). Please recharge in time.", t.Name, days, w.Balance, burn)
	}
	now := s.now()
	var b strings.Builder
	fmt.Fprintf(&b, "From: posta <postmaster@%s>\r\n", s.opts.Hostname)
	fmt.Fprintf(&b, "To: <%s>\r\n", t.Contact)
	fmt.Fprintf(&b, "Subject: %s / %s: %s\r\n", subjIT, subjEN, mimeWord(t.Name))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <credit-%d-%d-%d@%s>\r\n", t.ID, level, now.UnixNano(), s.opts.Hostname)
	b.WriteString("Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	fmt.Fprintf(&b, "Gentile cliente,\r\n\r\n%s\r\n\r\n-- \r\n\r\nDear customer,\r\n\r\n%s\r\n", bodyIT, bodyEN)
	return []byte(b.String())
}

// mimeWord encodes a header word that is not plain ASCII (RFC 2047).
func mimeWord(s string) string {
	for _, r := range s {
		if r >= 0x80 || r < 0x20 {
			return "=?utf-8?q?" + qEncode(s) + "?="
		}
	}
	return s
}

func qEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c > 0x20 && c < 0x7f && c != '=' && c != '?' && c != '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// Gate is the directory's credit gate (directory.Options.Credit): once a pay-per-use tenant's
// balance has been at zero or below for the grace period, it refuses new (and re-opened)
// accounts and moves to a class of service with a higher daily price. Moves to a class of the
// same or a lower price, and everything else, remain allowed. It only reads.
type Gate struct {
	db  *db.DB
	now func() time.Time
}

// NewGate returns the gate over d; now defaults to time.Now.
func NewGate(d *db.DB, now func() time.Time) *Gate {
	if now == nil {
		now = time.Now
	}
	return &Gate{db: d, now: now}
}

// CheckCredit implements directory.CreditChecker.
func (g *Gate) CheckCredit(ctx context.Context, tenantID, fromCOS, toCOS int64) error {
	var contract, name string
	var depleted sql.NullInt64
	err := g.db.QueryRowContext(ctx, `SELECT t.contract, t.name, w.depleted_day FROM tenants t LEFT JOIN billing_wallets w ON w.tenant_id = t.id WHERE t.id = ?`, tenantID).
		Scan(&contract, &name, &depleted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("billing: credit check: %w", err)
	}
	if contract != directory.ContractPayg || !depleted.Valid {
		return nil
	}
	st, _, err := loadSettings(ctx, g.db)
	if err != nil {
		return err
	}
	today := DayOf(g.now())
	graceEnd := Day(depleted.Int64) + Day(st.GraceDays)
	if today < graceEnd {
		return nil
	}
	if fromCOS != 0 {
		pb, err := loadPrices(ctx, g.db)
		if err != nil {
			return err
		}
		if pb.at(toCOS, today) <= pb.at(fromCOS, today) {
			return nil
		}
		return refuse("insufficient-credit", "cos", "the credit of %q ran out on %s and the grace period ended on %s: recharge before moving to a dearer class of service",
			name, Day(depleted.Int64), graceEnd)
	}
	return refuse("insufficient-credit", "", "the credit of %q ran out on %s and the grace period ended on %s: recharge before adding accounts",
		name, Day(depleted.Int64), graceEnd)
}

// SendingSuspended reports whether a tenant's accounts may not send because its credit ran out,
// the grace period is over and the suspend_sending setting is on (for the submission server).
func (s *Service) SendingSuspended(ctx context.Context, tenantID int64) (bool, error) {
	var contract string
	var depleted sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT t.contract, w.depleted_day FROM tenants t LEFT JOIN billing_wallets w ON w.tenant_id = t.id WHERE t.id = ?`, tenantID).
		Scan(&contract, &depleted)
	if err != nil || contract != directory.ContractPayg || !depleted.Valid {
		return false, nil
	}
	st, _, err := loadSettings(ctx, s.db)
	if err != nil || !st.SuspendSending {
		return false, err
	}
	return s.today() >= Day(depleted.Int64)+Day(st.GraceDays), nil
}

// Gate returns the service's credit gate (the same checks, with the service's clock).
func (s *Service) Gate() *Gate { return s.gate }
