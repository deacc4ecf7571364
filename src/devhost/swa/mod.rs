//! Static Web Apps emulation.
