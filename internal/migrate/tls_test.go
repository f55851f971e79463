package migrate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postamail/posta/internal/db/dbtest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imap.old.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// Implicit TLS and STARTTLS, an unverifiable certificate refused, and a source administrator
// logging in as the user with SASL PLAIN's authorisation identity (a Dovecot master user).
func TestMigrateTLSAndAdminLogin(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "posta-migrate-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	certFile, keyFile, pool := selfSigned(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dc := startDovecotWith(t, []string{"DOVECOT_MASTER=admin@old.test:Master-Pw-1", "DOVECOT_TLS_CERT=" + certFile, "DOVECOT_TLS_KEY=" + keyFile,
		fmt.Sprintf("DOVECOT_TLS_PORT=%d", tlsPort)}, "carla@old.test", "Vecchia-3")
	c := dc.login(t, "carla@old.test", "Vecchia-3")
	fill(t, c, 30, 0)

	e := newDest(t, dbtest.Open(t, dbtest.DSN(t, "sqlite")))
	stop := e.runnerWith(t, RunnerOptions{Poll: 20 * time.Millisecond, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}})
	implicit := e.wait(t, e.create(t, dc, "anna@new.test", "carla@old.test", "Vecchia-3", func(r *Request) {
		r.SourceTLS, r.SourcePort, r.AllowPlaintext = TLSImplicit, tlsPort, false
	}).ID)
	if implicit.Status != StatusDone || implicit.Copied != 30 {
		t.Errorf("implicit TLS: %s, %d copied (%s)", implicit.Status, implicit.Copied, implicit.Error)
	}
	admin := e.wait(t, e.create(t, dc, "bruno@new.test", "admin@old.test", "Master-Pw-1", func(r *Request) {
		r.SourceTLS, r.AllowPlaintext, r.SourceAuthz = TLSStartTLS, false, "carla@old.test"
	}).ID)
	if admin.Status != StatusDone || admin.Copied != 30 {
		t.Errorf("STARTTLS as an administrator acting as the user: %s, %d copied (%s)", admin.Status, admin.Copied, admin.Error)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.svc.messages)
	mfs, err := reg.Gather()
	copied := 0.0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "copied" {
				copied = m.GetCounter().GetValue()
			}
		}
	}
	if err != nil || copied != 60 {
		t.Errorf("posta_migration_messages_total{outcome=copied} = %v, want 60 (%v)", copied, err)
	}

	// The default size limit (29 MB, when neither the class of service nor the tenant sets
	// one): a larger message is listed in the trial's report as skipped.
	appendMsg(t, c, "INBOX", testMessage("huge", 30<<20), nil, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	trial := e.wait(t, e.create(t, dc, "small@new.test", "carla@old.test", "Vecchia-3", func(r *Request) {
		r.SourceTLS, r.SourcePort, r.AllowPlaintext, r.DryRun = TLSImplicit, tlsPort, false, true
	}).ID)
	rep, err := e.svc.Report(e.sys, trial.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.Plan; p == nil || p.SizeLimit != 29<<20 || len(p.TooLarge) != 1 || p.TooLarge[0].Size <= 30<<20 {
		t.Errorf("trial with the default size limit: %+v", rep.Plan)
	}
	stop()

	// With the system's roots, the self-signed certificate is refused.
	e.runner(t)
	bad := e.wait(t, e.create(t, dc, "small@new.test", "carla@old.test", "Vecchia-3", func(r *Request) {
		r.SourceTLS, r.SourcePort, r.AllowPlaintext = TLSImplicit, tlsPort, false
	}).ID)
	if bad.Status != StatusFailed || bad.ErrorKind != "source-tls" || !strings.Contains(bad.Error, "certificate") {
		t.Errorf("unverifiable certificate: %s %s %q", bad.Status, bad.ErrorKind, bad.Error)
	}
}
