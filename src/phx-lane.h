/* phx-lane.h — a queue that runs its commands one at a time, in arrival order. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
        gboolean busy;  /* a command of this lane is running */
        GQueue pending; /* commands waiting, oldest first */
} PhxLane;

G_END_DECLS
