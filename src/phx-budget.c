/* phx-budget.c — counts what hosts make the agent hold and says, through the "exhausted"
 * property, when to stop taking more. Main thread only. Whoever allocates for a host charges
 * here and releases when done; whoever takes new work (connections reading, the dispatcher
 * starting commands with large replies) watches "exhausted". Hysteresis (high, low) keeps a
 * host that drains slowly from toggling reading on every reply. */
#define G_LOG_DOMAIN "phx-budget"

#include "phx-budget.h"

struct _PhxBudget {
        GObject parent_instance;
        gsize high, low;
        gsize used;
        gboolean exhausted;
};

enum { PROP_0, PROP_EXHAUSTED, N_PROPS };
static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (PhxBudget, phx_budget, G_TYPE_OBJECT)

static void
update (PhxBudget *self)
{
        gboolean exhausted = self->exhausted ? self->used > self->low : self->used > self->high;

        if (exhausted == self->exhausted)
                return;
        self->exhausted = exhausted;
        g_debug ("budget %s at %" G_GSIZE_FORMAT " bytes", exhausted ? "exhausted" : "available", self->used);
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_EXHAUSTED]);
}

void
phx_budget_charge (PhxBudget *self, gsize bytes)
{
        self->used += bytes;
        update (self);
}

void
phx_budget_release (PhxBudget *self, gsize bytes)
{
        g_return_if_fail (bytes <= self->used);
        self->used -= bytes;
        update (self);
}

gsize
phx_budget_get_used (PhxBudget *self)
{
        return self->used;
}

gboolean
phx_budget_get_exhausted (PhxBudget *self)
{
        return self->exhausted;
}

/* Whether `bytes` more may be taken on now. Work alone in an empty budget always fits, so
 * one request larger than the budget is served rather than stuck for ever. */
gboolean
phx_budget_fits (PhxBudget *self, gsize bytes)
{
        return self->used == 0 || (!self->exhausted && self->used + bytes <= self->high);
}

PhxBudget *
phx_budget_new (gsize high, gsize low)
{
        PhxBudget *self = g_object_new (PHX_TYPE_BUDGET, NULL);

        self->high = high;
        self->low = MIN (low, high);
        return self;
}

static void
phx_budget_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
        PhxBudget *self = PHX_BUDGET (object);

        switch (prop_id) {
        case PROP_EXHAUSTED:
                g_value_set_boolean (value, self->exhausted);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        }
}

static void
phx_budget_class_init (PhxBudgetClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);

        object_class->get_property = phx_budget_get_property;
        props[PROP_EXHAUSTED] = g_param_spec_boolean ("exhausted", NULL, NULL, FALSE,
                                                      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS |
                                                              G_PARAM_EXPLICIT_NOTIFY);
        g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
phx_budget_init (PhxBudget *self)
{
}
