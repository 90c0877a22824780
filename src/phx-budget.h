/* phx-budget.h — PhxBudget: the bytes the agent holds for hosts (requests waiting, replies
 * being made, replies queued), against PHX_BUDGET_HIGH. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define PHX_TYPE_BUDGET (phx_budget_get_type ())
G_DECLARE_FINAL_TYPE (PhxBudget, phx_budget, PHX, BUDGET, GObject)

PhxBudget *phx_budget_new (gsize high, gsize low);
void phx_budget_charge (PhxBudget *self, gsize bytes);
void phx_budget_release (PhxBudget *self, gsize bytes);
gsize phx_budget_get_used (PhxBudget *self);
gboolean phx_budget_get_exhausted (PhxBudget *self);
gboolean phx_budget_fits (PhxBudget *self, gsize bytes);

G_END_DECLS
