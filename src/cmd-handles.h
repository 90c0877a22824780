/* cmd-handles.h — the handles family (see cmd-handles.c). */
#pragma once

#include "phx-family.h"

G_BEGIN_DECLS

#define PHX_TYPE_FILES_FAMILY (phx_files_family_get_type ())
G_DECLARE_FINAL_TYPE (PhxFilesFamily, phx_files_family, PHX, FILES_FAMILY, PhxFamily)

PhxFilesFamily *phx_files_family_new (guint max_handles, const char *runtime_dir);
guint phx_files_family_get_open_handles (PhxFilesFamily *self);

G_END_DECLS
