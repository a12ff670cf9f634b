/* `hearth check`: the automated form of the seeds' "Verification" sections. */
#ifndef HEARTH_CHECK_H
#define HEARTH_CHECK_H

/** Runs `hearth check [--data DIR] [--timeout MS] [URL...]` with argv after the command
 *  name. Probes every service listed in DIR/hearth.json (written by `hearth up`) or the
 *  given URLs, prints one table row per probe and returns the exit status: 0 when every
 *  probe answered 2xx, 1 otherwise, 2 on a usage error. */
int hearth_check_main(int argc, char **argv);

#endif
