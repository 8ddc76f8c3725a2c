package steward

import "fmt"

// MaxTenantLen is the longest tenant ID accepted.
const MaxTenantLen = 63

// ValidateTenant checks a tenant ID against the rule ^[a-z0-9][a-z0-9_-]{0,62}$.
// It does no I/O. The error matches ErrInvalidTenant and says what is allowed.
func ValidateTenant(id string) error {
	if id == "" {
		return fmt.Errorf("%w: tenant ID is empty: use lowercase letters, digits, '-' and '_' (at most %d)", ErrInvalidTenant, MaxTenantLen)
	}
	if len(id) > MaxTenantLen {
		return fmt.Errorf("%w: tenant %.20q… is %d bytes long: use at most %d lowercase letters, digits, '-' and '_'", ErrInvalidTenant, id, len(id), MaxTenantLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_')
		if !ok {
			return fmt.Errorf("%w: tenant %q: use lowercase letters, digits, '-' and '_' (at most %d), starting with a letter or digit", ErrInvalidTenant, id, MaxTenantLen)
		}
	}
	return nil
}
