/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_store — hmesh-controld's durable state: a snapshot of the model and a
 * log of the changes made since, in a state directory.
 *
 *   DIR/snapshot.json   the model at some revision (written to a temporary
 *                       file, fsynced, renamed, directory fsynced)
 *   DIR/changes.log     one change per line: JSON, a tab, CRC-32C of the
 *                       JSON as 8 hex digits
 *
 * ctl_store_append() returns only when the record is on stable storage
 * (fdatasync), so a change acknowledged over REST survives kill -9 and
 * power loss. At open the snapshot is loaded and the log replayed; a torn
 * last line (the process died mid-write, before acknowledging) fails its
 * CRC and is cut off; a bad line followed by good ones is corruption and
 * refuses to start rather than lose later changes silently. An append
 * that fails (disk full, sync error) is cut off the log again before the
 * error is returned, so such a line is never followed by another. After
 * CTL_STORE_COMPACT_EVERY appends, ctl_store_maybe_compact() writes the
 * model as the snapshot and empties the log.
 *
 * This is the single-node log. A cluster member (ctl_cluster.h) keeps the
 * replicated log instead (batches.log, votes.log); both end in the same
 * prepare-and-apply step (ctl_write_apply), so the REST layer does not
 * know which one it runs on.
 */
#ifndef CTL_STORE_H
#define CTL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_model.h"

#define CTL_STORE_COMPACT_EVERY 1000

struct ctl_store;

/*
 * Open (creating) @dir and bring @m (initialised, empty) to the stored
 * state. Returns 0 and *@out, or a negative errno with the reason logged
 * (-EBADMSG for a corrupt snapshot or log).
 */
int ctl_store_open(const char *dir, struct ctl_model *m, struct ctl_store **out);
void ctl_store_close(struct ctl_store *s);

/*
 * Write @c durably. 0, or a negative errno: nothing acknowledged then, and
 * nothing left in the log either (what was written is cut off again, so
 * the next record, with the same revision, starts on a clean line). When
 * that cut fails the store is wedged: every later append fails (-EIO)
 * until a restart, whose replay cuts a torn tail (a whole record whose
 * sync alone failed is the one case replay keeps: it is the last line).
 */
int ctl_store_append(struct ctl_store *s, const struct ctl_model *m, const struct ctl_change *c);

/* NULL, or why the store takes no more appends (naming the log file). */
const char *ctl_store_wedged(const struct ctl_store *s);

/* Snapshot @m and empty the log. 0 or a negative errno (the log is kept then). */
int ctl_store_compact(struct ctl_store *s, const struct ctl_model *m);
/* After applying a change: compact when COMPACT_EVERY records have piled up. */
int ctl_store_maybe_compact(struct ctl_store *s, const struct ctl_model *m);

/* CRC-32C (Castagnoli), reflected: what detects torn or flipped records. */
uint32_t ctl_crc32c(const void *data, size_t len);

/* Records replayed at open, and appended since. */
uint64_t ctl_store_replayed(const struct ctl_store *s);

#endif /* CTL_STORE_H */
