/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_model — hmesh-controld's desired state: services, backends and mesh
 * links, each with a version for optimistic concurrency, and the revision
 * of the last change applied.
 *
 * Every change is a record (struct ctl_change, JSON on disk and in the
 * log) built by ctl_model_prepare_*() from a REST body, which validates it
 * against the current state without touching it; ctl_model_apply() then
 * applies a record and cannot fail. Replaying the log at start uses the
 * same apply, so what was acknowledged is what comes back.
 *
 * Not thread-safe: the caller (ctl_rest, ctl_sync) holds the model lock.
 */
#ifndef CTL_MODEL_H
#define CTL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "hm_knobs.h"

#define CTL_NAME_MAX	 64
#define CTL_BUNDLE_MAX	 192 /* an OCI bundle's absolute path */
#define CTL_REPLICAS_MAX 64
#define CTL_WARM_MAX	 16

struct ctl_limits {
	uint32_t max_services; /* the dataplane's mfn_services */
	uint32_t max_backends; /* mfn_backends */
	uint32_t max_nodes;    /* mfn_nodes */
};

enum ctl_kind { CTL_SERVICE = 1, CTL_BACKEND = 2, CTL_LINK = 3, CTL_GROUP = 4, CTL_CONFIG = 5 };

struct ctl_service {
	bool used;
	uint32_t id; /* the dataplane's service id */
	char name[CTL_NAME_MAX];
	uint16_t port;
	uint64_t version;
};

struct ctl_backend {
	bool used;
	uint32_t id;
	uint32_t service; /* service id */
	uint8_t family;	  /* 4 or 6 */
	uint8_t addr[16];
	uint16_t port;
	uint16_t node;
	uint32_t weight;
	bool healthy;
	uint64_t version;
};

struct ctl_link {
	uint16_t a, b; /* a < b */
	bool up;
	uint64_t version;
};

/*
 * A service's containers (/v1/containers/{service}): how many replicas of
 * which OCI bundle, serving STOQ on which UDP port; ctl_orch runs them.
 */
struct ctl_group {
	bool used;
	uint32_t service; /* service id (the group's key) */
	uint32_t replicas;
	char bundle[CTL_BUNDLE_MAX];
	uint16_t port;		/* the containers' STOQ UDP port */
	uint32_t drain_seconds; /* scale-down: unhealthy this long before the stop */
	/*
	 * Autoscaling from L4 CPE forecasts (ctl_orch): replicas follow
	 * ceil(forecast new flows/s / flows_per_replica) within
	 * min_replicas..max_replicas. flows_per_replica 0 = off.
	 */
	uint32_t flows_per_replica, min_replicas, max_replicas;
	/* Containers this node keeps created but not started (hmesh-run create): a start execs one. */
	uint32_t warm;
	uint64_t version;
};

/* The dataplane's runtime settings (hm_knobs.h) the operator set: /v1/config. */
struct ctl_config {
	uint8_t set[HM_KNOB__COUNT]; /* 0: not managed here (the dataplane keeps its own) */
	uint64_t value[HM_KNOB__COUNT];
	uint64_t version;
};

struct ctl_model {
	struct ctl_limits lim;
	uint64_t revision;
	struct ctl_service *svc; /* max_services, indexed by id */
	struct ctl_backend *be;	 /* max_backends, indexed by id */
	struct ctl_link *links;
	uint32_t n_links, cap_links;
	struct ctl_group *grp; /* max_services, indexed by service id */
	struct ctl_config cfg;
};

/* A validated change: ready to be logged, then applied. */
struct ctl_change {
	uint64_t rev;
	bool del;
	enum ctl_kind kind;
	union {
		struct ctl_service s;
		struct ctl_backend b;
		struct ctl_link l;
		struct ctl_group g;
		struct ctl_config cfg;
	} o;
};

/* A REST-level error: HTTP status, message, the field at fault (may be ""). */
struct ctl_err {
	int status;
	char field[48];
	char msg[200];
};

int ctl_model_init(struct ctl_model *m, const struct ctl_limits *lim);
void ctl_model_fini(struct ctl_model *m);

/*
 * Build a change from a JSON body. @existing is NULL for create (POST) or
 * the name/id/key of the object for update (PUT) and delete. For update
 * and delete, a "version" in the body (or @if_version > 0) must equal the
 * object's, else 409. Returns 0, or -1 with @e filled (400 naming the
 * field, 404, 409).
 */
int ctl_model_prepare_service(const struct ctl_model *m, const json_t *body, const char *existing,
			      bool del, uint64_t if_version, struct ctl_change *c,
			      struct ctl_err *e);
int ctl_model_prepare_backend(const struct ctl_model *m, const json_t *body, const char *existing,
			      bool del, uint64_t if_version, struct ctl_change *c,
			      struct ctl_err *e);
int ctl_model_prepare_link(const struct ctl_model *m, const json_t *body, const char *existing,
			   bool del, uint64_t if_version, struct ctl_change *c, struct ctl_err *e);

int ctl_model_prepare_group(const struct ctl_model *m, const json_t *body, const char *existing,
			    bool del, uint64_t if_version, struct ctl_change *c, struct ctl_err *e);

/* PUT /v1/config: {"dataplane": {knob: integer, or null to stop managing it}}. */
int ctl_model_prepare_config(const struct ctl_model *m, const json_t *body, bool del,
			     uint64_t if_version, struct ctl_change *c, struct ctl_err *e);
json_t *ctl_config_json(const struct ctl_config *cfg);

/* By collection name (services, backends, links, containers, config); unknown: 404. */
int ctl_model_prepare(const struct ctl_model *m, const char *coll, const json_t *body,
		      const char *existing, bool del, uint64_t if_version, struct ctl_change *c,
		      struct ctl_err *e);

/* @body is an object whose keys are all in @allowed (NULL-terminated); else -1, 400 naming it. */
int ctl_model_check_fields(const json_t *body, const char *const *allowed, struct ctl_err *e);

/* Apply a prepared (or replayed) change; sets the revision to c->rev. */
void ctl_model_apply(struct ctl_model *m, const struct ctl_change *c);

/* JSON views (new references). */
json_t *ctl_service_json(const struct ctl_service *s);
json_t *ctl_backend_json(const struct ctl_model *m, const struct ctl_backend *b);
json_t *ctl_link_json(const struct ctl_link *l);
json_t *ctl_group_json(const struct ctl_model *m, const struct ctl_group *g);

/* Lookups: NULL when absent. */
const struct ctl_service *ctl_model_service_by_name(const struct ctl_model *m, const char *name);
const struct ctl_link *ctl_model_link(const struct ctl_model *m, uint16_t a, uint16_t b);

/* A change as one JSON object (the log record) and back. */
json_t *ctl_change_json(const struct ctl_model *m, const struct ctl_change *c);
/* Returns 0, or -1 with the reason in @e (a corrupt or foreign record). */
int ctl_change_from_json(const struct ctl_model *m, const json_t *j, struct ctl_change *c,
			 struct ctl_err *e);

/* The whole model as JSON (snapshot) and back into an initialised model. */
json_t *ctl_model_json(const struct ctl_model *m);
int ctl_model_load_json(struct ctl_model *m, const json_t *j, struct ctl_err *e);

#endif /* CTL_MODEL_H */
