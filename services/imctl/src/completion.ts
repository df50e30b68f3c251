import type { Command } from 'commander';

const flagsOf = (c: Command) =>
  c.options.flatMap((o) => [o.long, o.short].filter((f): f is string => typeof f === 'string'));

/**
 * A completion script for the program's commands, subcommands and options, generated from the
 * program itself so it never drifts. zsh loads the bash one through bashcompinit.
 */
export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const top = program.commands.filter((c) => c.name() !== 'help');
  const globalFlags = [...flagsOf(program), '--help'];
  const cases = top
    .map((c) => {
      const subs = c.commands.map((s) => s.name());
      const subCases = c.commands
        .map((s) => `        ${s.name()}) opts="${[...flagsOf(s), ...globalFlags].join(' ')}" ;;`)
        .join('\n');
      if (subs.length === 0) {
        const words = c.name() === 'completion' ? 'bash zsh' : '';
        const first = words
          ? `\n      if [[ $COMP_CWORD -eq 2 && "$cur" != -* ]]; then COMPREPLY=( $(compgen -W "${words}" -- "$cur") ); return; fi`
          : '';
        return `    ${c.name()})${first}
      opts="${[...flagsOf(c), ...globalFlags].join(' ')}" ;;`;
      }
      return `    ${c.name()}${c
        .aliases()
        .map((a) => `|${a}`)
        .join('')})
      if [[ $COMP_CWORD -eq 2 ]]; then COMPREPLY=( $(compgen -W "${subs.join(' ')}" -- "$cur") ); return; fi
      case "\${COMP_WORDS[2]}" in
${subCases}
      esac ;;`;
    })
    .join('\n');
  const bash = `# imctl completion for bash: source <(imctl completion bash)
_imctl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" opts=""
  case "$prev" in
    -o|--output) COMPREPLY=( $(compgen -W "json table" -- "$cur") ); return ;;
    --role) COMPREPLY=( $(compgen -W "admin user" -- "$cur") ); return ;;
    --log-level) COMPREPLY=( $(compgen -W "SEVERE WARNING INFO DEBUG" -- "$cur") ); return ;;
  esac
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=( $(compgen -W "${top.map((c) => c.name()).join(' ')} help ${globalFlags.join(' ')}" -- "$cur") ); return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); return; fi
  COMPREPLY=( $(compgen -f -- "$cur") )
}
complete -o filenames -F _imctl imctl
`;
  if (shell === 'bash') return bash;
  return `#compdef imctl
# imctl completion for zsh: source <(imctl completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash}`;
}
