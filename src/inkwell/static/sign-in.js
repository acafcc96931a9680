// Swagger UI's Authorize dialog for Inkwell's sign-in (the OAuth2 password flow): the account's email and
// password, and nothing else. Swagger UI's own dialog asks for a "username" and for a client id and secret
// (with where to send them), which Inkwell does not use. A plugin (Swagger UI's plugin API) that takes the
// place of the "oauth2" component for the password flow only; the request and its errors stay Swagger UI's.
(function () {
  "use strict";

  function InkwellSignIn(system) {
    const React = system.React;
    const h = React.createElement;

    class EmailSignIn extends React.Component {
      constructor(props) {
        super(props);
        const signedIn = props.authorized && props.authorized.get(props.name);
        this.state = { username: (signedIn && signedIn.get("username")) || "", password: "" };
        this.onInput = (event) => this.setState({ [event.target.dataset.name]: event.target.value });
        this.authorize = (event) => {
          event.preventDefault();
          const { authActions, errActions, name, schema } = this.props;
          errActions.clear({ authId: name, type: "auth", source: "auth" });
          authActions.authorizePassword({
            schema,
            name,
            username: this.state.username,
            password: this.state.password,
            passwordType: "request-body",
            clientId: "",
            clientSecret: "",
            scopes: [],
          });
        };
        this.logout = (event) => {
          event.preventDefault();
          const { authActions, errActions, name } = this.props;
          errActions.clear({ authId: name, type: "auth", source: "auth" });
          authActions.logoutWithPersistOption([name]);
        };
        this.close = (event) => {
          event.preventDefault();
          this.props.authActions.showDefinitions(false);
        };
      }

      field(id, label, input, shown) {
        return h(
          "div",
          { className: "wrapper" },
          h("label", { htmlFor: id }, label),
          shown === undefined ? h("input", { id, ...input, onChange: this.onInput }) : h("code", null, " ", shown, " "),
        );
      }

      render() {
        const { authSelectors, errSelectors, getComponent, name, schema } = this.props;
        const AuthError = getComponent("authError");
        const Markdown = getComponent("Markdown", true);
        const signedIn = Boolean(authSelectors.authorized().get(name));
        const errors = errSelectors.allErrors().filter((error) => error.get("authId") === name);
        const description = schema.get("description");
        return h(
          "form",
          { onSubmit: signedIn ? this.logout : this.authorize },
          h("h4", null, "Sign in"),
          description && h(Markdown, { source: description }),
          signedIn && h("h6", null, "Authorized"),
          this.field(
            "oauth_username",
            "Email:",
            { type: "email", autoComplete: "username", "data-name": "username", autoFocus: true, required: true },
            signedIn ? this.state.username : undefined,
          ),
          this.field(
            "oauth_password",
            "Password:",
            { type: "password", autoComplete: "current-password", "data-name": "password", required: true },
            signedIn ? "******" : undefined,
          ),
          errors.valueSeq().map((error, index) => h(AuthError, { error, key: index })),
          h(
            "div",
            { className: "auth-btn-wrapper" },
            h(
              "button",
              { type: "submit", className: "btn modal-btn auth authorize" },
              signedIn ? "Logout" : "Authorize",
            ),
            h("button", { type: "button", className: "btn modal-btn auth btn-done", onClick: this.close }, "Close"),
          ),
        );
      }
    }

    return {
      wrapComponents: {
        oauth2: (Original) => (props) =>
          props.schema.get("flow") === "password" ? h(EmailSignIn, props) : h(Original, props),
      },
    };
  }

  window.InkwellSignIn = InkwellSignIn;
})();
