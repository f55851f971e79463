package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/postamail/posta/internal/autoconfig"
	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
)

// welcome sends the welcome message to every account the import created.
func (s *Service) welcome(ctx context.Context, st *directory.TenantState, res *Result, lang string) {
	for _, r := range res.Rows {
		if !r.Applied || r.Action != ActCreate {
			continue
		}
		l := r.language
		if l == "" {
			l = lang
		}
		if err := s.SendWelcome(ctx, r.Address, r.displayName, l); err != nil {
			r.Welcome = "not sent: " + err.Error()
			s.log.Warn("provision: welcome message", "account", r.Address, "err", err)
			continue
		}
		r.Welcome = "sent"
		res.Welcome++
	}
}

// SendWelcome delivers the welcome message to a new account, in lang ("en" or Italian).
func (s *Service) SendWelcome(ctx context.Context, address, displayName, lang string) error {
	if s.opts.Sender == nil {
		return errors.New("welcome messages are not available here")
	}
	raw := WelcomeMessage(s.opts.Client, address, displayName, lang, time.Now())
	errs, err := s.opts.Sender.Deliver(ctx, &deliver.Envelope{From: "", Rcpts: []string{address}, Raw: raw, System: true})
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

// WelcomeMessage composes the welcome message: the account's address and the settings of every
// mail client (the servers, ports and security of this node), in Italian or English.
func WelcomeMessage(c autoconfig.Settings, address, displayName, lang string, now time.Time) []byte {
	it := lang != "en"
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	ports := func(tls int, starttls int, tlsWord, orWord string) string {
		var parts []string
		if tls != 0 {
			parts = append(parts, fmt.Sprintf("%d (%s)", tls, tlsWord))
		}
		if starttls != 0 {
			parts = append(parts, fmt.Sprintf("%d (STARTTLS)", starttls))
		}
		return strings.Join(parts, " "+orWord+" ")
	}
	name := displayName
	if name == "" {
		name = address
	}
	var subject string
	if it {
		subject = "Benvenuto: la tua casella " + address + " è pronta"
		line("Ciao %s,", name)
		line("")
		line("la casella di posta %s è attiva. Ecco le impostazioni per il programma di posta.", address)
		line("Thunderbird, Outlook e i dispositivi Apple le trovano da soli: basta indicare l'indirizzo e la password.")
		line("")
		line("Nome utente:  %s (l'indirizzo completo)", address)
		line("Password:     quella che ti ha comunicato l'amministratore")
		line("Server:       %s", c.Hostname)
		line("")
		if p := ports(c.IMAPS, c.IMAP, "SSL/TLS", "oppure"); p != "" {
			line("Posta in arrivo IMAP:   porta %s", p)
		}
		if p := ports(c.POP3S, c.POP3, "SSL/TLS", "oppure"); p != "" {
			line("Posta in arrivo POP3:   porta %s", p)
		}
		if p := ports(c.Submissions, c.Submission, "SSL/TLS", "oppure"); p != "" {
			line("Posta in uscita SMTP:   porta %s, con autenticazione (stesso nome utente e password)", p)
		}
		if u := c.WebURL(); u != "" {
			line("")
			line("Impostazioni personali (password, inoltro, risposta automatica): %s", u)
		}
		line("")
		line("Buon lavoro!")
	} else {
		subject = "Welcome: your mailbox " + address + " is ready"
		line("Hello %s,", name)
		line("")
		line("the mailbox %s is active. These are the settings for your mail program.", address)
		line("Thunderbird, Outlook and Apple devices find them by themselves: just give the address and the password.")
		line("")
		line("User name:  %s (the whole address)", address)
		line("Password:   the one your administrator gave you")
		line("Server:     %s", c.Hostname)
		line("")
		if p := ports(c.IMAPS, c.IMAP, "SSL/TLS", "or"); p != "" {
			line("Incoming mail, IMAP:   port %s", p)
		}
		if p := ports(c.POP3S, c.POP3, "SSL/TLS", "or"); p != "" {
			line("Incoming mail, POP3:   port %s", p)
		}
		if p := ports(c.Submissions, c.Submission, "SSL/TLS", "or"); p != "" {
			line("Outgoing mail, SMTP:   port %s, with authentication (same user name and password)", p)
		}
		if u := c.WebURL(); u != "" {
			line("")
			line("Your own settings (password, forwarding, auto-reply): %s", u)
		}
		line("")
		line("Enjoy!")
	}
	id := make([]byte, 12)
	rand.Read(id)
	var m strings.Builder
	fmt.Fprintf(&m, "From: %s <postmaster@%s>\r\n", mime.QEncoding.Encode("utf-8", "Mail System"), c.Hostname)
	fmt.Fprintf(&m, "To: %s\r\n", mailbox(displayName, address))
	fmt.Fprintf(&m, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&m, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&m, "Message-ID: <welcome-%s@%s>\r\n", hex.EncodeToString(id), c.Hostname)
	m.WriteString("Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
	if it {
		m.WriteString("Content-Language: it\r\n")
	} else {
		m.WriteString("Content-Language: en\r\n")
	}
	m.WriteString("\r\n")
	m.WriteString(b.String())
	return []byte(m.String())
}

// mailbox formats "Name <address>" with the name encoded when needed.
func mailbox(name, address string) string {
	return (&mail.Address{Name: name, Address: address}).String()
}
