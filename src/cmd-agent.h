/* cmd-agent.h — the agent's own family (see cmd-agent.c). */
#pragma once

#include "phx-family.h"
#include "phx-registry.h"

G_BEGIN_DECLS

#define PHX_TYPE_AGENT_FAMILY (phx_agent_family_get_type ())
G_DECLARE_FINAL_TYPE (PhxAgentFamily, phx_agent_family, PHX, AGENT_FAMILY, PhxFamily)

PhxAgentFamily *phx_agent_family_new (PhxRegistry *registry);

G_END_DECLS
