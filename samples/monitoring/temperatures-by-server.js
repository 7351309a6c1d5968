// Event Store's own example, per server: every reading linked into `temperatures_by_server-web1`,
// whatever stream it was written to (a server may report through a gateway's stream).

fromAll().when({
  TemperatureMeasured: (s, e) => {
    linkTo('temperatures_by_server-' + e.data.server, e);
  },
});
