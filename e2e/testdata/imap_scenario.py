# A broad IMAP session with python's imaplib against posta, run by TestIMAPWithPythonImaplib.
#
# usage: imap_scenario.py ssl|starttls IMAP_PORT SMTP_PORT USER PASSWORD
#
# Before it runs, the test delivers four messages (imapMessages in imap_test.go) to USER's INBOX.
# Every step checks the values the server returns, not only the status; the script prints "ok"
# at the end and exits non-zero (with a traceback) at the first difference.
import imaplib
import re
import smtplib
import socket
import ssl
import sys
import time

mode, port, smtp_port, user, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
socket.setdefaulttimeout(20)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def ok(res):
    typ, dat = res
    assert typ == "OK", res
    return dat


def select(m, box, readonly=False, want=None):
    dat = ok(m.select(box, readonly))
    assert dat == [want], (box, dat, want)
    info = dict(m.untagged_responses)
    m.untagged_responses.clear()
    return info


def connect():
    if mode == "ssl":
        m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
    else:
        m = imaplib.IMAP4("127.0.0.1", port)
        assert "STARTTLS" in m.capabilities, m.capabilities
        # Passwords are refused in clear text (the installation does not allow insecure auth).
        assert "LOGINDISABLED" in m.capabilities and "AUTH=PLAIN" not in m.capabilities, m.capabilities
        typ, dat = m._simple_command("LOGIN", user, password)
        assert typ == "NO" and b"[PRIVACYREQUIRED]" in dat[0], (typ, dat)
        ok(m.starttls(ssl_context=ctx))
        assert "STARTTLS" not in m.capabilities and "LOGINDISABLED" not in m.capabilities, m.capabilities
    assert "AUTH=PLAIN" in m.capabilities, m.capabilities
    return m


M = connect()
# CAPABILITY
caps = ok(M.capability())[0].split()
for c in [b"IMAP4rev1", b"IMAP4rev2", b"IDLE", b"MOVE", b"UIDPLUS", b"SORT", b"THREAD=REFERENCES", b"QUOTA", b"LITERAL+", b"SPECIAL-USE"]:
    assert c in caps, (c, caps)
# a wrong password first
try:
    M.login(user, "not-" + password)
    raise SystemExit("a wrong password was accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
dat = ok(M.login(user, password))
assert dat[0].startswith(b"[CAPABILITY "), dat

# LIST: the default mailboxes with their special uses.
listed = ok(M.list())
want = {
    b'(\\HasNoChildren \\Archive) "/" Archive',
    b'(\\HasNoChildren \\Drafts) "/" Drafts',
    b'(\\HasNoChildren) "/" INBOX',
    b'(\\HasNoChildren \\Junk) "/" Junk',
    b'(\\HasNoChildren \\Sent) "/" Sent',
    b'(\\HasNoChildren \\Trash) "/" Trash',
}
assert set(listed) == want, listed
assert ok(M.list('""', '""')) == [b'(\\Noselect) "/" ""']

# CREATE a mailbox whose name needs modified UTF-7, sent quoted.
BOX = '"Posta in arrivo/Citt&AOA-"'
ok(M._simple_command("CREATE", BOX))
typ, dat = M._simple_command("CREATE", BOX)
assert typ == "NO" and b"[ALREADYEXISTS]" in dat[0], (typ, dat)
listed = ok(M.list('""', '"Posta in arrivo*"'))
assert listed == [b'(\\HasChildren) "/" "Posta in arrivo"', b'(\\HasNoChildren) "/" "Posta in arrivo/Citt&AOA-"'], listed
assert ok(M.list('""', '"Posta in arrivo/%"')) == [b'(\\HasNoChildren) "/" "Posta in arrivo/Citt&AOA-"']

# SELECT it: empty.
info = select(M, BOX, want=b"0")
uidvalidity = int(info["UIDVALIDITY"][0])
assert info["UIDNEXT"] == [b"1"], info

# APPEND with flags and an internal date: a multipart message with 8-bit UTF-8 text.
APPENDED = (
    b"From: Giulia Verdi <giulia@example.org>\r\n"
    b"To: " + user.encode() + b"\r\n"
    b"Subject: Appended by imaplib\r\n"
    b"Date: Thu, 01 Feb 2024 10:20:30 +0100\r\n"
    b"Message-ID: <appended@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Citt\xc3\xa0 e perch\xc3\xa9: a line with 8-bit text\r\n"
    b"--b1\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p>Citt&agrave;</p>\r\n"
    b"--b1--\r\n"
)
dat = ok(M.append(BOX, r"(\Flagged $Custom)", '"01-Feb-2024 10:20:30 +0100"', APPENDED))
assert dat[0] == b"[APPENDUID %d 1] APPEND completed" % uidvalidity, dat

# The new message is announced at the end of APPEND.
assert M.untagged_responses.pop("EXISTS", None) == [b"1"], M.untagged_responses

# FETCH it back: every item.
dat = ok(M.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[])"))
assert len(dat) == 2 and dat[1] == b")", dat
head, body = dat[0]
assert body == APPENDED, (body, APPENDED)
assert re.search(rb"FLAGS \(([^)]*)\)", head).group(1).split() == [b"\\Flagged", b"$Custom"], head
# The internal date is the instant given (the zone it is shown in is the server's choice).
idate = re.search(rb'INTERNALDATE "[^"]+"', head)
assert idate and time.mktime(imaplib.Internaldate2tuple(b"* 1 FETCH (" + idate.group(0) + b")")) == 1706779230, head
assert b"RFC822.SIZE %d " % len(APPENDED) in head, head
assert (
    b'ENVELOPE ("Thu, 01 Feb 2024 10:20:30 +0100" "Appended by imaplib" (("Giulia Verdi" NIL "giulia" "example.org")) '
    b'(("Giulia Verdi" NIL "giulia" "example.org")) (("Giulia Verdi" NIL "giulia" "example.org")) '
    b'((NIL NIL "' + user.split("@")[0].encode() + b'" "acme.test")) NIL NIL NIL "<appended@example.org>")'
) in head, head
# Part sizes exclude the CRLF that belongs to the next boundary (RFC 2046 section 5.1.1).
plain_size = len(b"Citt\xc3\xa0 e perch\xc3\xa9: a line with 8-bit text")
assert re.search(
    rb'BODYSTRUCTURE \(\("TEXT" "PLAIN" \("CHARSET" "utf-8"\) NIL NIL "8BIT" %d \d+ [^)]*\)'
    rb'\("TEXT" "HTML" \("CHARSET" "utf-8"\) NIL NIL "7BIT" 19 \d+ [^)]*\) "ALTERNATIVE" \("BOUNDARY" "b1"\)' % plain_size,
    head,
), head
# BODY.PEEK did not set \Seen; BODY[] does.
dat = ok(M.fetch("1", "(BODY[1])"))
assert dat[0][1] == b"Citt\xc3\xa0 e perch\xc3\xa9: a line with 8-bit text", dat
assert b"\\Seen" in ok(M.fetch("1", "(FLAGS)"))[0], "BODY[] did not set \\Seen"
ok(M.store("1", "-FLAGS.SILENT", r"(\Seen)"))

# INBOX: the four delivered messages.
inbox_validity = int(select(M, "INBOX", want=b"4")["UIDVALIDITY"][0])
# A single-part message without Content-Type: text/plain us-ascii, 34 octets, 1 line.
dat = ok(M.fetch("1", "(BODYSTRUCTURE)"))
assert dat == [b'1 (BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 34 1 NIL NIL NIL NIL))'], dat
subjects = ok(M.fetch("1:4", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
subjects = [s[1].strip() for s in subjects if isinstance(s, tuple)]
assert subjects == [b"Subject: Budget 2024", b"Subject: Re: Budget 2024", b"Subject: Alpaca pictures", b"Subject: Re: Re: Budget 2024"], subjects

# SEARCH: exact answers.
searches = [
    (("TEXT", "budget"), b"1 2 4"),
    (("TEXT", "alpaca"), b"3"),
    (("BODY", "approved"), b"2"),
    (("FROM", "anna@example.org"), b"1 4"),
    (("FROM", "bruno"), b"2"),
    (("UNSEEN",), b"1 2 3 4"),
    (("SEEN",), b""),
    (("SINCE", "1-Jan-2020"), b"1 2 3 4"),
    (("SINCE", time.strftime("%d-%b-%Y", time.gmtime(time.time() + 2 * 86400))), b""),
    (("SENTSINCE", "3-Jan-2024"), b"3 4"),
    (("SENTBEFORE", "3-Jan-2024"), b"1 2"),
    (("NOT", "FROM", "anna"), b"2 3"),
    (("OR", "FROM", "bruno", "FROM", "carla"), b"2 3"),
    (("HEADER", "Message-ID", "<m3@example.org>"), b"3"),
    (("LARGER", "1"), b"1 2 3 4"),
    (("TEXT", "nonexistentword"), b""),
]
for crit, want in searches:
    got = ok(M.search(None, *crit))
    assert got == [want], (crit, got, want)
# UID SEARCH gives the UIDs of the same messages.
uids = ok(M.uid("SEARCH", None, "ALL"))[0].split()
assert uids == [b"1", b"2", b"3", b"4"], uids

# SORT and THREAD.
assert ok(M.sort("(SUBJECT)", "UTF-8", "ALL")) == [b"3 1 2 4"]
assert ok(M.sort("(REVERSE DATE)", "UTF-8", "ALL")) == [b"4 3 2 1"]
assert ok(M.sort("(FROM)", "UTF-8", "ALL")) == [b"1 4 2 3"]
assert ok(M.sort("(DATE)", "UTF-8", "TEXT", "budget")) == [b"1 2 4"]
assert ok(M.thread("REFERENCES", "UTF-8", "ALL")) == [b"(1 2 4)(3)"]
assert ok(M.thread("ORDEREDSUBJECT", "UTF-8", "ALL")) == [b"(1 (2)(4))(3)"]

# STORE: flags come back; .SILENT sends none.
dat = ok(M.store("2", "+FLAGS", r"(\Seen)"))
assert dat == [b"2 (FLAGS (\\Seen))"], dat
dat = ok(M.store("1", "+FLAGS.SILENT", r"(\Flagged)"))
assert dat == [None], dat
assert ok(M.search(None, "UNSEEN")) == [b"1 3 4"]
assert ok(M.search(None, "FLAGGED")) == [b"1"]
dat = ok(M.store("1", "-FLAGS", r"(\Flagged)"))
assert dat == [b"1 (FLAGS ())"], dat

# COPY 1:2 to the UTF-7 mailbox: COPYUID with the destination's UIDs 2:3.
typ, dat = M.copy("1:2", BOX)
assert typ == "OK" and dat[0] == b"[COPYUID %d 1:2 2:3] COPY completed" % uidvalidity, (typ, dat)
# UID MOVE message 3 (UID 3) to Archive: its sequence number is expunged here.
typ, dat = M.uid("MOVE", "3", "Archive")
assert typ == "OK", (typ, dat)
assert M.untagged_responses.pop("EXPUNGE", None) == [b"3"], M.untagged_responses
copyuid = [r for r in M.untagged_responses.pop("OK", []) if r.startswith(b"[COPYUID")]
assert re.fullmatch(rb"\[COPYUID \d+ 3 1\].*", copyuid[0]), copyuid
assert ok(M.search(None, "ALL")) == [b"1 2 3"]
# EXPUNGE the first.
ok(M.store("1", "+FLAGS.SILENT", r"(\Deleted)"))
assert ok(M.expunge()) == [b"1"]
assert ok(M.uid("SEARCH", None, "ALL")) == [b"2 4"]

# STATUS of every mailbox touched.
statuses = [
    ("INBOX", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY)", b"INBOX (MESSAGES 2 UNSEEN 1 UIDNEXT 5 UIDVALIDITY %d)" % inbox_validity),
    (BOX, "(MESSAGES UNSEEN UIDNEXT)", b'"Posta in arrivo/Citt&AOA-" (MESSAGES 3 UNSEEN 2 UIDNEXT 4)'),
    ("Archive", "(MESSAGES UNSEEN)", b"Archive (MESSAGES 1 UNSEEN 1)"),
    ("Trash", "(MESSAGES)", b"Trash (MESSAGES 0)"),
]
for box, items, want in statuses:
    got = ok(M.status(box, items))
    assert got == [want], (box, got, want)
typ, dat = M.status('"No such box"', "(MESSAGES)")
assert typ == "NO" and b"[NONEXISTENT]" in dat[0], (typ, dat)

# GETQUOTAROOT: the account's root "" and a 100 MB class of service (102400 KiB).
dat = ok(M.getquotaroot("INBOX"))
assert dat[0] == [b'INBOX ""'], dat
q = re.fullmatch(rb'"" \(STORAGE (\d+) (\d+)\)', dat[1][0])
assert q and 1 <= int(q.group(1)) <= 16 and int(q.group(2)) == 102400, dat

# IDLE on a second connection; a delivery over SMTP must wake it with EXISTS.
M2 = connect()
ok(M2.login(user, password))
select(M2, "INBOX", want=b"2")
tag = M2._new_tag()
M2.send(tag + b" IDLE\r\n")
line = M2.readline()
assert line.startswith(b"+ "), line
t0 = time.time()
with smtplib.SMTP("127.0.0.1", smtp_port) as s:
    s.sendmail("x@example.org", [user], b"From: x@example.org\r\nTo: " + user.encode() + b"\r\nSubject: wake up\r\n\r\nidle test\r\n")
line = M2.readline()
assert line == b"* 3 EXISTS\r\n", line
M2.send(b"DONE\r\n")
line = M2.readline()
assert line.startswith(tag + b" OK"), line
assert M2.logout()[0] == "BYE"
# The first connection hears of it on its next command.
ok(M.noop())
assert M.untagged_responses.pop("EXISTS", None) == [b"3"], M.untagged_responses
assert ok(M.uid("FETCH", "5", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))[0][1].strip() == b"Subject: wake up"

# The copies and the appended message in the UTF-7 mailbox.
select(M, BOX, readonly=True, want=b"3")
dat = ok(M.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"))
ids = [d[1].strip() for d in dat if isinstance(d, tuple)]
assert ids == [b"Message-ID: <appended@example.org>", b"Message-ID: <m1@example.org>", b"Message-ID: <m2@example.org>"], dat
assert ok(M.uid("FETCH", "1", "(BODY.PEEK[])"))[0][1] == APPENDED
typ, dat = M.store("1", "+FLAGS", r"(\Seen)")
assert typ == "NO" and dat[0].startswith(b"[READ-ONLY]"), (typ, dat)
typ, dat = M.uid("MOVE", "1", "INBOX")
assert typ == "NO" and dat[0].startswith(b"[READ-ONLY]"), (typ, dat)
ok(M.close())

# LOGOUT: BYE then OK.
typ, dat = M.logout()
assert typ == "BYE", (typ, dat)
print("ok")
