/* cmd-freeze.h — the freeze family (see cmd-freeze.c). */
#pragma once

#include "phx-family.h"
#include "phx-freeze-state.h"

G_BEGIN_DECLS

#define PHX_TYPE_FREEZE_FAMILY (phx_freeze_family_get_type ())
G_DECLARE_FINAL_TYPE (PhxFreezeFamily, phx_freeze_family, PHX, FREEZE_FAMILY, PhxFamily)

PhxFreezeFamily *phx_freeze_family_new (PhxFreezeState *freezer);

G_END_DECLS

