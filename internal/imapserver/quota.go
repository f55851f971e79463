package imapserver

import "context"

// checkMessageQuota refuses, before anything is written, n more messages for an account whose
// class of service caps the number of messages (the MESSAGE resource of RFC 9208) and would go
// over it: NO [OVERQUOTA].
func (s *session) checkMessageQuota(ctx context.Context, n int) error {
	q, err := s.srv.store.Quota(ctx, s.acct.ID)
	if err != nil {
		return storeError(err)
	}
	if q.LimitMessages > 0 && q.Messages+int64(n) > q.LimitMessages {
		return no("OVERQUOTA", "Over the message quota (%d of %d messages): delete or expunge messages first", q.Messages, q.LimitMessages)
	}
	return nil
}
