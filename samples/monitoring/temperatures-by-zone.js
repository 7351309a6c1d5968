// Event Store's own example: every TemperatureMeasured reading linked into a stream per zone, so a
// dashboard or a subscriber reads `temperatures_by_zone-Ireland` instead of filtering everything.
// Links, not copies: the reading is stored once, in its server's stream.

fromAll().when({
  TemperatureMeasured: (s, e) => {
    linkTo('temperatures_by_zone-' + e.data.zone, e);
  },
});
