/* Unit tests of IP defragmentation (agent_defrag.c): in-order, reversed and duplicated
 * fragments, overlaps refused (RFC 5722), the 64 KiB limit, misaligned fragments,
 * timeouts and the bounded table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "agent/agent_defrag.h"
#include "core/hc_alloc.h"

#include <string.h>
#include <sys/socket.h>

static uint8_t payload[3000];

static agent_frag_t frag(int family, uint32_t id, uint32_t off, size_t len, int more)
{
    agent_frag_t f = {.family = family,
                      .id = id,
                      .proto = 17,
                      .offset = off,
                      .more = more,
                      .data = payload + off,
                      .len = len};
    memset(f.src, 1, sizeof(f.src));
    memset(f.dst, 2, sizeof(f.dst));
    return f;
}

static int add(agent_defrag_t *d, agent_frag_t f, uint64_t now, const uint8_t **out, size_t *len)
{
    return agent_defrag_add(d, &f, now, out, len);
}

static void setup_payload(void)
{
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7 + 3);
}

static void test_orders(void **state)
{
    (void)state;
    setup_payload();
    agent_defrag_t *d = agent_defrag_new();
    const uint8_t *out;
    size_t len;
    /* in order, IPv4 */
    assert_int_equal(add(d, frag(AF_INET, 7, 0, 1480, 1), 0, &out, &len), 0);
    assert_int_equal(add(d, frag(AF_INET, 7, 1480, 1480, 1), 0, &out, &len), 0);
    assert_int_equal(agent_defrag_pending(d), 1);
    assert_int_equal(add(d, frag(AF_INET, 7, 2960, 40, 0), 0, &out, &len), 1);
    assert_int_equal(len, 3000);
    assert_memory_equal(out, payload, 3000);
    assert_int_equal(agent_defrag_pending(d), 0);
    /* reversed, with a duplicate, IPv6 (32-bit id) */
    assert_int_equal(add(d, frag(AF_INET6, 0x10000007, 2960, 40, 0), 5, &out, &len), 0);
    assert_int_equal(add(d, frag(AF_INET6, 0x10000007, 1480, 1480, 1), 5, &out, &len), 0);
    assert_int_equal(add(d, frag(AF_INET6, 0x10000007, 1480, 1480, 1), 5, &out, &len), 0);
    /* another datagram from the same hosts interleaves */
    assert_int_equal(add(d, frag(AF_INET6, 8, 0, 1480, 1), 5, &out, &len), 0);
    assert_int_equal(agent_defrag_pending(d), 2);
    assert_int_equal(add(d, frag(AF_INET6, 0x10000007, 0, 1480, 1), 5, &out, &len), 1);
    assert_int_equal(len, 3000);
    assert_memory_equal(out, payload, 3000);
    assert_int_equal(agent_defrag_completed(d), 2);
    for (int i = 0; i < AGENT_DEFRAG_NDROPS; i++)
        assert_int_equal(agent_defrag_drops(d, i), 0);
    agent_defrag_free(d); /* the pending id 8 is freed too */
}

static void test_refusals(void **state)
{
    (void)state;
    setup_payload();
    agent_defrag_t *d = agent_defrag_new();
    const uint8_t *out;
    size_t len;
    /* overlap with other bounds: the whole datagram goes (RFC 5722) */
    assert_int_equal(add(d, frag(AF_INET, 1, 0, 1480, 1), 0, &out, &len), 0);
    assert_int_equal(add(d, frag(AF_INET, 1, 1472, 80, 1), 0, &out, &len), -1);
    assert_int_equal(agent_defrag_drops(d, AGENT_DEFRAG_DROP_OVERLAP), 1);
    assert_int_equal(agent_defrag_pending(d), 0);
    /* a second last fragment with another end */
    assert_int_equal(add(d, frag(AF_INET, 2, 1480, 40, 0), 0, &out, &len), 0);
    assert_int_equal(add(d, frag(AF_INET, 2, 1480, 48, 0), 0, &out, &len), -1);
    /* data past the end the last fragment set */
    assert_int_equal(add(d, frag(AF_INET, 3, 16, 16, 0), 0, &out, &len), 0);
    assert_int_equal(add(d, frag(AF_INET, 3, 32, 16, 1), 0, &out, &len), -1);
    assert_int_equal(agent_defrag_drops(d, AGENT_DEFRAG_DROP_OVERLAP), 3);
    /* past 65535 bytes, misaligned non-final fragments */
    agent_frag_t big = frag(AF_INET, 4, 65528, 16, 0);
    big.data = payload;
    assert_int_equal(agent_defrag_add(d, &big, 0, &out, &len), -1);
    assert_int_equal(agent_defrag_drops(d, AGENT_DEFRAG_DROP_TOO_BIG), 1);
    assert_int_equal(add(d, frag(AF_INET, 5, 0, 10, 1), 0, &out, &len), -1);
    assert_int_equal(add(d, frag(AF_INET, 5, 0, 0, 1), 0, &out, &len), -1);
    assert_int_equal(agent_defrag_drops(d, AGENT_DEFRAG_DROP_BAD), 2);
    assert_int_equal(agent_defrag_pending(d), 0);
    agent_defrag_free(d);
}

static void test_timeout_and_bound(void **state)
{
    (void)state;
    setup_payload();
    agent_defrag_t *d = agent_defrag_new();
    const uint8_t *out;
    size_t len;
    assert_int_equal(add(d, frag(AF_INET, 1, 0, 1480, 1), 1000, &out, &len), 0);
    /* the missing piece comes too late: the datagram expired */
    assert_int_equal(
        add(d, frag(AF_INET, 1, 1480, 40, 0), 1000 + AGENT_DEFRAG_TIMEOUT_MS, &out, &len), 0);
    assert_int_equal(agent_defrag_drops(d, AGENT_DEFRAG_DROP_TIMEOUT), 1);
    /* that late piece alone, without the first fragment, expires as an orphan */
    agent_defrag_expire(d, 1000 + 2 * AGENT_DEFRAG_TIMEOUT_MS);
    assert_int_equal(agent_defrag_drops(d, AGENT_DEFRAG_DROP_TIMEOUT), 1);
    assert_int_equal(agent_defrag_drops(d, AGENT_DEFRAG_DROP_ORPHAN), 1);
    assert_int_equal(agent_defrag_pending(d), 0);
    /* a full table evicts its oldest datagram */
    for (uint32_t id = 0; id < AGENT_DEFRAG_MAX_DATAGRAMS + 3; id++)
        assert_int_equal(add(d, frag(AF_INET, 100 + id, 0, 8, 1), 50000 + id, &out, &len), 0);
    assert_int_equal(agent_defrag_pending(d), AGENT_DEFRAG_MAX_DATAGRAMS);
    assert_int_equal(agent_defrag_drops(d, AGENT_DEFRAG_DROP_EVICTED), 3);
    /* the evicted one (id 100) starts over; the newest completes */
    assert_int_equal(
        add(d, frag(AF_INET, 100 + AGENT_DEFRAG_MAX_DATAGRAMS + 2, 8, 8, 0), 50100, &out, &len), 1);
    assert_int_equal(len, 16);
    agent_defrag_free(d);
    agent_defrag_free(NULL);

    /* Later fragments of other ports' datagrams (the filter keeps every later fragment)
     * fill the table: a SIP datagram with its first fragment is not the one evicted. */
    d = agent_defrag_new();
    assert_int_equal(add(d, frag(AF_INET, 1, 0, 1480, 1), 0, &out, &len), 0);
    for (uint32_t id = 0; id < 3 * AGENT_DEFRAG_MAX_DATAGRAMS; id++)
        assert_int_equal(add(d, frag(AF_INET, 1000 + id, 1480, 16, 1), 1 + id, &out, &len), 0);
    assert_int_equal(agent_defrag_drops(d, AGENT_DEFRAG_DROP_EVICTED), 0);
    assert_int_equal(agent_defrag_drops(d, AGENT_DEFRAG_DROP_ORPHAN),
                     2 * AGENT_DEFRAG_MAX_DATAGRAMS + 1);
    assert_int_equal(add(d, frag(AF_INET, 1, 1480, 40, 0), 500, &out, &len), 1);
    assert_int_equal(len, 1520);
    assert_memory_equal(out, payload, 1520);
    agent_defrag_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_timeout_and_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
