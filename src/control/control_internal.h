/* Declarations shared by the files of src/control/ and their unit tests only. */
#ifndef KONN_CONTROL_INTERNAL_H
#define KONN_CONTROL_INTERNAL_H

#include "control/control.h"

#include "base/base.h"

struct control {
    struct mgmt_deps deps;
    enum vpn_state vpn;
    bool ti_accepts; /* the simulated TI side accepts the tunnel */
    struct clock_timer *vpn_timer;
};

#endif
