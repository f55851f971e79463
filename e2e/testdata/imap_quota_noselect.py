# The message quota, \Noselect placeholders and subject threading with python's smtplib and
# imaplib against posta, run by TestMessageQuotaNoselectAndThreads.
#
# usage: imap_quota_noselect.py IMAPS_PORT SMTP_PORT CAPPED NORMAL PASSWORD
#
# CAPPED's class of service keeps at most 2 messages; NORMAL has no cap. The script prints "ok"
# at the end and exits non-zero (with a traceback) at the first difference.
import imaplib
import smtplib
import socket
import ssl
import sys

port, smtp_port, capped, normal, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
socket.setdefaulttimeout(20)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def ok(res):
    typ, dat = res
    assert typ == "OK", res
    return dat


def message(n, subject="Hello"):
    return ("From: x@example.org\r\nTo: %s, %s\r\nSubject: %s\r\nMessage-ID: <q%d@example.org>\r\n\r\nbody %d\r\n" % (capped, normal, subject, n, n))


# SMTP: both recipients take two messages; the third is refused for CAPPED only, at RCPT, with
# 452 4.2.2, and NORMAL still gets it.
for n in range(3):
    s = smtplib.SMTP("127.0.0.1", smtp_port)
    refused = s.sendmail("x@example.org", [capped, normal], message(n))
    s.quit()
    if n < 2:
        assert refused == {}, refused
    else:
        assert list(refused) == [capped], refused
        code, text = refused[capped]
        assert code == 452 and text.startswith(b"4.2.2"), refused

# IMAP: GETQUOTAROOT reports the MESSAGE resource; APPEND over it is NO [OVERQUOTA].
m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
ok(m.login(capped, password))
typ, caps = m.capability()
assert b"QUOTA=RES-MESSAGE" in caps[0], caps
typ, dat = m._simple_command("GETQUOTAROOT", "INBOX")
assert typ == "OK", dat
quota = m.untagged_responses.pop("QUOTA")
assert quota[0].endswith(b"MESSAGE 2 2)"), quota
typ, dat = m.append("INBOX", None, None, message(9).encode())
assert typ == "NO" and b"[OVERQUOTA]" in dat[0], (typ, dat)
ok(m.select("INBOX"))
typ, dat = m.copy("1", "Archive")
assert typ == "NO" and b"[OVERQUOTA]" in dat[0], (typ, dat)
# Making room lets mail in again.
ok(m.store("1", "+FLAGS", "\\Deleted"))
ok(m.expunge())
ok(m.append("INBOX", None, None, message(10).encode()))
m.logout()

# DELETE of a mailbox with children: its messages go, it stays as \Noselect (RFC 9051 6.3.4).
m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
ok(m.login(normal, password))
ok(m.create("foo/bar"))
ok(m.append("foo", None, None, message(20).encode()))
ok(m.delete("foo"))
listing = ok(m.list('""', "foo*"))
assert listing == [b'(\\Noselect \\HasChildren) "/" foo', b'(\\HasNoChildren) "/" foo/bar'], listing
typ, dat = m.select("foo")
assert typ == "NO" and b"[NONEXISTENT]" in dat[0], (typ, dat)
typ, dat = m.delete("foo")
assert typ == "NO", (typ, dat)
ok(m.delete("foo/bar"))
ok(m.delete("foo"))
assert ok(m.list('""', "foo*")) == [None], "foo still listed"

# THREAD=REFERENCES groups threads by base subject.
ok(m.create("Threads"))
for n, subject in enumerate(["Plan", "Lunch", "Re: Plan", "Fwd: Plan"]):
    raw = "From: x@example.org\r\nSubject: %s\r\nDate: Mon, 1 Jan 2024 1%d:00:00 +0000\r\nMessage-ID: <t%d@example.org>\r\n\r\nbody\r\n" % (subject, n, n)
    ok(m.append("Threads", None, None, raw.encode()))
ok(m.select("Threads"))
threads = ok(m.thread("REFERENCES", "UTF-8", "ALL"))
assert threads == [b"(1 (3)(4))(2)"], threads
m.logout()
print("ok")
