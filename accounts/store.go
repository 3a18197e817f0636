package accounts

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// Store is the accounts last loaded, by user, most specific host first.
type Store struct {
	mu     sync.RWMutex
	byUser map[string][]Account
	loaded time.Time

	// load reads every account from the writer; refresh serialises it.
	load    func(ctx context.Context) ([]Account, error)
	refresh sync.Mutex
	tried   time.Time // the last load's start, under refresh
	// failGap is the least time between two refreshes a failed login asks for.
	failGap time.Duration
}

// NewStore is an empty store that load fills.
func NewStore(load func(ctx context.Context) ([]Account, error), failGap time.Duration) *Store {
	return &Store{byUser: map[string][]Account{}, load: load, failGap: failGap}
}

// Replace installs a new set of accounts. Anonymous accounts (user ”) are
// left out: the proxy never logs a client in as someone else.
func (s *Store) Replace(all []Account, at time.Time) {
	by := map[string][]Account{}
	for _, a := range all {
		if a.User != "" {
			by[a.User] = append(by[a.User], a)
		}
	}
	for _, as := range by {
		slices.SortStableFunc(as, func(a, b Account) int { return cmp.Compare(specificity(b.Host), specificity(a.Host)) })
	}
	s.mu.Lock()
	s.byUser, s.loaded = by, at
	s.mu.Unlock()
}

// Match is the account user logs in as from ip: the most specific host
// pattern that matches, as the server picks it.
func (s *Store) Match(user, ip string) (Account, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, a := range s.byUser[user] {
		if MatchHost(a.Host, ip) {
			return a, true
		}
	}
	return Account{}, false
}

// Len is how many accounts are loaded.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, as := range s.byUser {
		n += len(as)
	}
	return n
}

// LoadedAt is when the accounts were last loaded (zero: never).
func (s *Store) LoadedAt() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.loaded
}

// Refresh loads the accounts again now.
func (s *Store) Refresh(ctx context.Context) error {
	s.refresh.Lock()
	defer s.refresh.Unlock()
	return s.reload(ctx)
}

// reload runs a load; the caller holds refresh.
func (s *Store) reload(ctx context.Context) error {
	s.tried = time.Now()
	all, err := s.load(ctx)
	if err != nil {
		return err
	}
	s.Replace(all, time.Now())
	return nil
}

// RefreshAfterFailure loads the accounts again for a login that failed
// (a password rotated, an account created since the last load), unless a
// load was tried less than failGap ago, whether it worked or not: a stream
// of wrong passwords costs the writer one query per gap, and a writer that
// is down one timeout. Logins failing together wait for one load. It
// reports whether the accounts were loaded (again).
func (s *Store) RefreshAfterFailure(ctx context.Context) bool {
	asked := time.Now()
	s.refresh.Lock()
	defer s.refresh.Unlock()
	if s.tried.After(asked) { // another failed login loaded them while this one waited
		return s.LoadedAt().After(asked)
	}
	if time.Since(s.tried) < s.failGap {
		return false
	}
	return s.reload(ctx) == nil
}
