# /etc/profile.d/pos-till.sh (scripts/install): a cashier's login on the counter's own screen
# starts the till. Cashiers are the members of group pos listed in @ETC@/till-users; technicians
# over SSH (SSH_CONNECTION set) get a shell. POS_TILL_NO_AUTOSTART=1 skips it.
if [ -z "$SSH_CONNECTION" ] && [ -z "$POS_TILL_NO_AUTOSTART" ] && [ -r @ETC@/till-users ] \
   && grep -qx "$(id -un)" @ETC@/till-users 2>/dev/null; then
  case "$(tty 2>/dev/null)" in
    /dev/tty[0-9]*|/dev/pts/*) exec @BIN@/pos-till-session ;;
  esac
fi
