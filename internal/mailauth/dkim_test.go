package mailauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"os"
	"strings"
	"testing"
)

const testMessage = "From: Alice <alice@example.org>\r\n" +
	"To: Bob <bob@example.net>\r\n" +
	"Subject: Lunch\r\n" +
	"Date: Mon, 01 Dec 2026 12:00:00 +0100\r\n" +
	"Message-ID: <lunch@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Shall we meet at noon?\r\n" +
	"\r\n" +
	"Alice\r\n"

func TestDKIMSignVerify(t *testing.T) {
	edKey, err := GenerateDKIMKey(DKIMEd25519)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := GenerateDKIMKey(DKIMRSA)
	if err != nil {
		t.Fatal(err)
	}
	if n := rsaKey.(*rsa.PrivateKey).N.BitLen(); n != 2048 {
		t.Fatalf("RSA key of %d bits", n)
	}
	edRecord, err := DKIMRecord(edKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(edRecord, "v=DKIM1; k=ed25519; p=") || len(edRecord) != len("v=DKIM1; k=ed25519; p=")+44 {
		t.Errorf("Ed25519 record %q", edRecord)
	}
	rsaRecord, err := DKIMRecord(rsaKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rsaRecord, "v=DKIM1; k=rsa; p=MIIBIjAN") {
		t.Errorf("RSA record %q", rsaRecord)
	}
	if parts := SplitTXT(rsaRecord); len(parts) != 2 || strings.Join(parts, "") != rsaRecord || len(parts[0]) != 255 {
		t.Errorf("SplitTXT gave %d parts", len(parts))
	}

	dns := newFakeDNS(t, "ed._domainkey.example.org TXT "+edRecord+"\nrsa._domainkey.example.org TXT "+rsaRecord)
	sigs, err := SignDKIM(strings.NewReader(testMessage),
		DKIMKey{Domain: "example.org", Selector: "ed", Signer: edKey},
		DKIMKey{Domain: "example.org", Selector: "rsa", Signer: rsaKey, Identifier: "@example.org"},
	)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(sigs, []byte("DKIM-Signature:")); n != 2 {
		t.Fatalf("%d signatures:\n%s", n, sigs)
	}
	signed := string(sigs) + testMessage

	results, err := VerifyDKIM(context.Background(), dns, strings.NewReader(signed))
	if err != nil {
		t.Fatal(err)
	}
	want := []DKIMResult{
		{Result: DKIMPass, Domain: "example.org", Identifier: "@example.org", Selector: "ed", Algorithm: "ed25519-sha256"},
		{Result: DKIMPass, Domain: "example.org", Identifier: "@example.org", Selector: "rsa", Algorithm: "rsa-sha256"},
	}
	checkDKIM(t, results, want)

	// Tampering with the body or a signed header breaks both.
	for _, tamper := range []struct{ old, new string }{
		{"noon", "one"},
		{"Subject: Lunch", "Subject: Dinner"},
		{"Subject: Lunch\r\n", "Subject: Lunch\r\nSubject: Free money\r\n"},
	} {
		bad := strings.Replace(signed, tamper.old, tamper.new, 1)
		results, err := VerifyDKIM(context.Background(), dns, strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			if r.Result != DKIMFail {
				t.Errorf("%q→%q: signature %d = %s (%v), want fail", tamper.old, tamper.new, i, r.Result, r.Err)
			}
		}
	}

	// Relaxed canonicalization tolerates whitespace changes.
	relaxed := strings.Replace(signed, "Subject: Lunch", "Subject:   Lunch ", 1)
	results, _ = VerifyDKIM(context.Background(), dns, strings.NewReader(relaxed))
	checkDKIM(t, results, want)

	// Key problems.
	missing := newFakeDNS(t, "rsa._domainkey.example.org TEMP")
	results, _ = VerifyDKIM(context.Background(), missing, strings.NewReader(signed))
	if results[0].Result != DKIMPermError || results[1].Result != DKIMTempError {
		t.Errorf("missing key and DNS failure: %s (%v), %s (%v)", results[0].Result, results[0].Err, results[1].Result, results[1].Err)
	}
	revoked := newFakeDNS(t, "ed._domainkey.example.org TXT v=DKIM1; k=ed25519; p=")
	results, _ = VerifyDKIM(context.Background(), revoked, strings.NewReader(signed))
	if results[0].Result != DKIMPermError {
		t.Errorf("revoked key: %s", results[0].Result)
	}
}

func checkDKIM(t *testing.T, got, want []DKIMResult) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i := range want {
		g := got[i]
		if g.Result != want[i].Result || g.Domain != want[i].Domain || g.Identifier != want[i].Identifier ||
			g.Selector != want[i].Selector || g.Algorithm != want[i].Algorithm {
			t.Errorf("result %d = %+v, want %+v", i, g, want[i])
		}
	}
}

// TestDKIMRFC8463 verifies the Ed25519 signature of RFC 8463 Appendix A.
// Only the Ed25519 key is published, so the RSA signature has no key.
func TestDKIMRFC8463(t *testing.T) {
	msg, err := os.ReadFile("testdata/rfc8463.eml")
	if err != nil {
		t.Fatal(err)
	}
	dns := newFakeDNS(t, "brisbane._domainkey.football.example.com TXT v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	results, err := VerifyDKIM(context.Background(), dns, bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	checkDKIM(t, results, []DKIMResult{
		{Result: DKIMPass, Domain: "football.example.com", Identifier: "@football.example.com", Selector: "brisbane", Algorithm: "ed25519-sha256"},
		{Result: DKIMPermError, Domain: "football.example.com", Identifier: "@football.example.com", Selector: "test", Algorithm: "rsa-sha256"},
	})

	// The same key, derived from the secret of RFC 8463 Appendix A.2, signs
	// a message that verifies.
	key := ed25519.NewKeyFromSeed(mustBase64(t, "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="))
	rec, _ := DKIMRecord(key.Public())
	if rec != "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=" {
		t.Fatalf("record of the RFC key = %q", rec)
	}
	sig, err := SignDKIM(strings.NewReader(testMessage), DKIMKey{Domain: "football.example.com", Selector: "brisbane", Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	results, _ = VerifyDKIM(context.Background(), dns, strings.NewReader(string(sig)+testMessage))
	if len(results) != 1 || results[0].Result != DKIMPass {
		t.Errorf("results = %+v", results)
	}
}

func TestDKIMUnsignedAndLimits(t *testing.T) {
	dns := newFakeDNS(t, "")
	results, err := VerifyDKIM(context.Background(), dns, strings.NewReader(testMessage))
	if err != nil || len(results) != 0 {
		t.Errorf("unsigned: %v, %v", results, err)
	}
	if ar := DKIMAuthResults(results); len(ar) != 1 || ar[0].Result != "none" {
		t.Errorf("auth results for unsigned: %+v", ar)
	}

	key, _ := GenerateDKIMKey(DKIMEd25519)
	keys := make([]DKIMKey, DefaultDKIMMaxSignatures+2)
	for i := range keys {
		keys[i] = DKIMKey{Domain: "example.org", Selector: "s", Signer: key}
	}
	sigs, err := SignDKIM(strings.NewReader(testMessage), keys...)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := DKIMRecord(key.Public())
	dns = newFakeDNS(t, "s._domainkey.example.org TXT "+rec)
	results, err = VerifyDKIM(context.Background(), dns, strings.NewReader(string(sigs)+testMessage))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(keys) {
		t.Fatalf("%d results", len(results))
	}
	for i, r := range results {
		want := DKIMPass
		if i >= DefaultDKIMMaxSignatures {
			want = DKIMNeutral
		}
		if r.Result != want {
			t.Errorf("signature %d: %s, want %s", i, r.Result, want)
		}
	}
}

func TestDKIMKeyPEM(t *testing.T) {
	for _, alg := range []DKIMAlgorithm{DKIMEd25519, DKIMRSA} {
		key, err := GenerateDKIMKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		pemData, err := MarshalDKIMKey(key)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseDKIMKey(pemData)
		if err != nil {
			t.Fatal(err)
		}
		if !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
			t.Errorf("%s: key changed through PEM", alg)
		}
	}
	if _, err := GenerateDKIMKey("dsa"); err == nil {
		t.Error("unknown algorithm accepted")
	}
	if _, err := ParseDKIMKey([]byte("not pem")); err == nil {
		t.Error("garbage accepted")
	}
}
