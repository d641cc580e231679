// Starts the stock rasa-webchat widget against the chat_server given as ?socket=<base url>.
(function () {
  var params = new URLSearchParams(window.location.search);
  var socketUrl = params.get("socket") || window.location.origin;
  window.WebChat.default(
    {
      socketUrl: socketUrl,
      socketPath: "/socket.io/",
      customData: { language: params.get("lang") || "en" },
      title: "CLT 311 (rasa-webchat)",
      inputTextFieldHint: "Type a message",
      params: { storage: "session" },
      hideWhenNotConnected: false,
    },
    null
  );
})();
