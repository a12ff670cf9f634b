/* Passwords for the services' admin users: bcrypt hashes (the $2b$ format Umami, htpasswd
 * and most others store, through libcrypt), and the bootstrap every service shares:
 * ADMIN_PASSWORD, else ADMIN_PASSWORD_FILE (hc_config resolves both), else a generated
 * password saved once under the data directory and reported on `hearth up`'s banner. */
#ifndef HC_PASSWORD_H
#define HC_PASSWORD_H

#include <stddef.h>

/** bcrypt ($2b$, cost 10) of pw into out (NUL-terminated). Returns 0 or -EIO. */
int hc_password_hash(const char *pw, char *out, size_t cap);

/** 1 when pw matches hash (bcrypt $2a$/$2b$/$2y$, or any crypt(3) scheme), else 0. */
int hc_password_verify(const char *pw, const char *hash);

/** The admin password for service: configured (non-NULL, non-empty) wins; else the one
 *  saved in DATA_DIR/<service>-admin-password (mode 0600; a looser mode is narrowed); else
 *  a new random 20-char one written there atomically (never half written; when two
 *  processes race, both get the first one saved). *generated = 1 when this call created
 *  it (print it once). Returns 0 or a negative errno after logging why. */
int hc_password_bootstrap(const char *configured, const char *data_dir, const char *service,
                          char *out, size_t cap, int *generated);

#endif
