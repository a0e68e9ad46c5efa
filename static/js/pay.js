// The card page: Stripe Elements takes the card (it never reaches our
// server), our server confirms the PaymentIntent, and Stripe.js runs 3-D
// Secure when the intent asks for it. Then the browser goes to the payment's
// page, which re-reads the intent and shows the receipt.
(function () {
  "use strict";
  var root = document.querySelector("[data-payment-intent]");
  if (!root || typeof Stripe === "undefined") return;
  var stripe = Stripe(root.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var form = root.querySelector("form");
  var error = root.querySelector("[data-pay-error]");
  var button = root.querySelector("[data-pay-button]");
  var busy = root.querySelector("[data-pay-busy]");

  function fail(message) {
    error.textContent = message || root.dataset.genericError;
    error.hidden = false;
    button.disabled = false;
    busy.hidden = true;
  }

  // A payment method from Stripe.js; localstripe's mock Stripe.js makes
  // none (its createPaymentMethod returns nothing), only card tokens.
  async function cardReference() {
    var made = await stripe.createPaymentMethod({ type: "card", card: card });
    if (made && made.error) throw made.error;
    if (made && made.paymentMethod) return { payment_method: made.paymentMethod.id };
    var tokenised = await stripe.createToken(card);
    if (tokenised.error) throw tokenised.error;
    return { token: tokenised.token.id };
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    busy.hidden = false;
    try {
      var reference = await cardReference();
      var body = new FormData(form);
      Object.keys(reference).forEach(function (key) { body.append(key, reference[key]); });
      var response = await fetch(root.dataset.confirmUrl, {
        method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" },
      });
      var answer = await response.json();
      if (!response.ok || answer.status === "failed") return fail(answer.error);
      if (answer.status === "requires_action") {
        var done = await stripe.confirmCardPayment(answer.client_secret);
        if (done.error) return fail(done.error.message);
      }
      window.location.assign(answer.next);
    } catch (problem) {
      fail(problem && problem.type ? problem.message : "");
    }
  });
})();
