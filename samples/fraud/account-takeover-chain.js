// Account takeover as a chain: a password reset, then a new device, then a large transfer, all
// within an hour, unless the customer confirmed on a channel the attacker does not hold.
//
// Why: each step alone is routine (people forget passwords, buy phones, pay rent). Together and in
// that order, quickly, it is the takeover playbook: reset the password via a phished e-mail, enrol
// the attacker's phone, empty the account. A confirmation from the customer in between (a call
// back, an SMS code on the registered number) breaks the chain.

const confirmed = (e) => e.type === 'CustomerConfirmed';
const LATENESS = 60_000; // events arrive up to a minute late (network and queue delays); re-order them
const rule = pattern('account-takeover-chain')
  .keyBy((e) => e.data.customer)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness(LATENESS)
  .remember((e) => ({ type: e.type, device: e.data.device, amount: e.data.amount, beneficiary: e.data.beneficiary }))
  .begin('reset', (e) => e.type === 'PasswordReset')
  .notFollowedBy('confirmedBeforeDevice', confirmed)
  .followedBy('device', (e) => e.type === 'NewDeviceRegistered')
  .notFollowedBy('confirmedBeforeTransfer', confirmed)
  .followedBy('transfer', (e) => e.type === 'TransferInitiated' && e.data.amount > 2000)
  .within('1h')
  .afterMatch(skipPastLastEvent());

function raise(out) {
  for (const m of out.matches) {
    emit('alerts-account-takeover-chain', 'AccountTakeoverChainAlert', {
      rule: m.rule,
      key: m.key,
      reason: 'password reset, new device and a transfer of ' + m.steps.transfer[0].amount + ' within an hour, not confirmed by the customer',
      steps: m.steps,
      start: m.start,
      end: m.end,
    });
  }
}

function onEvent(s, e) {
  raise(rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data }));
  return s;
}

fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  PasswordReset: onEvent,
  NewDeviceRegistered: onEvent,
  CustomerConfirmed: onEvent,
  TransferInitiated: onEvent,
  // Every other event moves event time on as well, so a match held back for late arrivals is
  // released a minute after its last event, not when the key's next event comes (hours later, maybe).
  $any: (s, e) => {
    const t = e.data ? Date.parse(e.data.at) : NaN;
    if (!Number.isNaN(t)) raise(rule.onWatermark(s.rule, t - LATENESS));
    return s;
  },
});
