/* hc_password: bcrypt hashes that Umami's user table holds, verification of other crypt(3)
 * schemes, and the admin-password bootstrap file (configured, saved, generated). */
#include "core/hc_alloc.h"
#include "core/hc_password.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Umami's seeded admin (prisma/migrations/01_init): admin / umami. */
static const char UMAMI_ADMIN[] = "$2b$10$BUli0c.muyCW1ErNJc3jL.vFRFtFJWrT8/GcR4A.sUdCznaXiqFXa";

static void test_verify_known_hashes(void **state)
{
    (void)state;
    static const struct {
        const char *pw, *hash;
        int ok;
    } cases[] = {
        {"umami", UMAMI_ADMIN, 1},
        {"umamI", UMAMI_ADMIN, 0},
        {"", UMAMI_ADMIN, 0},
        {"secret", "$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a", 1},
        {"secreT", "$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a", 0},
        {"umami", "", 0},
        {"umami", "not a hash", 0},
        {"umami", "$2b$10$short", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(hc_password_verify(cases[i].pw, cases[i].hash), cases[i].ok);
}

static void test_hash_round_trip(void **state)
{
    (void)state;
    char h[128];
    assert_int_equal(hc_password_hash("correct horse", h, sizeof(h)), 0);
    assert_int_equal(strncmp(h, "$2b$10$", 7), 0);
    assert_int_equal(strlen(h), 60); /* fits Umami's password VARCHAR(60) */
    assert_true(hc_password_verify("correct horse", h));
    assert_false(hc_password_verify("correct horsE", h));
    char h2[128];
    assert_int_equal(hc_password_hash("correct horse", h2, sizeof(h2)), 0);
    assert_string_not_equal(h, h2); /* a fresh salt each time */
    char tiny[16];
    assert_int_equal(hc_password_hash("x", tiny, sizeof(tiny)), -EIO);
}

static void test_bootstrap(void **state)
{
    (void)state;
    char dir[] = "/tmp/hc_password_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char pw[64], again[64], path[256];
    int gen = -1;
    snprintf(path, sizeof(path), "%s/svc-admin-password", dir);

    assert_int_equal(hc_password_bootstrap("given", dir, "svc", pw, sizeof(pw), &gen), 0);
    assert_string_equal(pw, "given");
    assert_int_equal(gen, 0);
    assert_int_equal(access(path, F_OK), -1); /* nothing saved for a configured one */

    assert_int_equal(hc_password_bootstrap(NULL, dir, "svc", pw, sizeof(pw), &gen), 0);
    assert_int_equal(gen, 1);
    assert_int_equal(strlen(pw), 20);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    assert_int_equal(hc_password_bootstrap("", dir, "svc", again, sizeof(again), &gen), 0);
    assert_int_equal(gen, 0);
    assert_string_equal(again, pw); /* the saved one comes back */

    char small[8];
    assert_int_equal(hc_password_bootstrap("far too long", dir, "svc", small, sizeof(small), &gen),
                     -EINVAL);
    unlink(path);
    rmdir(dir);
}

/* A crash between creating the file and writing it left it empty: the next start must
 * not fail for ever, and nobody ever saw a password, so a new one replaces it. */
static void test_bootstrap_empty_leftover(void **state)
{
    (void)state;
    char dir[] = "/tmp/hc_password_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char pw[64], path[256];
    int gen = -1;
    snprintf(path, sizeof(path), "%s/svc-admin-password", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(hc_password_bootstrap(NULL, dir, "svc", pw, sizeof(pw), &gen), 0);
    assert_int_equal(gen, 1);
    assert_int_equal(strlen(pw), 20);
    char again[64];
    assert_int_equal(hc_password_bootstrap(NULL, dir, "svc", again, sizeof(again), &gen), 0);
    assert_int_equal(gen, 0);
    assert_string_equal(again, pw);
    unlink(path);
    rmdir(dir);
}

/* The file is created 0600 even under umask 0, no temporary file is left beside it, and
 * a saved file others can read is narrowed to 0600 when it is read. */
static void test_bootstrap_modes(void **state)
{
    (void)state;
    char dir[] = "/tmp/hc_password_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char pw[64], path[256];
    int gen = -1;
    snprintf(path, sizeof(path), "%s/svc-admin-password", dir);
    mode_t old = umask(0);
    assert_int_equal(hc_password_bootstrap(NULL, dir, "svc", pw, sizeof(pw), &gen), 0);
    umask(old);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_nlink, 1); /* the temporary name is gone */
    assert_int_equal(chmod(path, 0644), 0);
    char again[64];
    assert_int_equal(hc_password_bootstrap(NULL, dir, "svc", again, sizeof(again), &gen), 0);
    assert_string_equal(again, pw);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    unlink(path);
    assert_int_equal(rmdir(dir), 0); /* nothing else was left in the directory */
}

/* Two processes starting together both end up with the one password that was saved. */
static void test_bootstrap_race(void **state)
{
    (void)state;
    char dir[] = "/tmp/hc_password_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/svc-admin-password", dir);
    for (int round = 0; round < 20; round++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t child = fork();
        assert_true(child >= 0);
        char pw[64];
        int gen = 0;
        if (child == 0) {
            close(fds[0]);
            int rc = hc_password_bootstrap(NULL, dir, "svc", pw, sizeof(pw), &gen);
            if (rc || write(fds[1], pw, strlen(pw) + 1) < 0)
                _exit(1);
            _exit(0);
        }
        close(fds[1]);
        assert_int_equal(hc_password_bootstrap(NULL, dir, "svc", pw, sizeof(pw), &gen), 0);
        char theirs[64] = "";
        ssize_t n = read(fds[0], theirs, sizeof(theirs) - 1);
        close(fds[0]);
        int status = 0;
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_true(n > 0);
        assert_string_equal(theirs, pw);
        unlink(path);
    }
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_known_hashes), cmocka_unit_test(test_hash_round_trip),
        cmocka_unit_test(test_bootstrap),           cmocka_unit_test(test_bootstrap_empty_leftover),
        cmocka_unit_test(test_bootstrap_modes),     cmocka_unit_test(test_bootstrap_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
